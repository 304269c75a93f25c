"""Import every domain's models so Base.metadata is complete (Alembic target)."""

from server.auth.models import RefreshToken, User
from server.customers.models import Customer, Site
from server.db import Base
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.parts.models import Part, PartUsage
from server.technicians.models import Shift, Technician, TechnicianSkill
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder, WorkOrderCounter, WorkOrderEvent, WorkOrderHelper

metadata = Base.metadata

__all__ = [
    "Base",
    "Customer",
    "CustomFieldDefinition",
    "Equipment",
    "EquipmentConfigRevision",
    "Part",
    "PartUsage",
    "RefreshToken",
    "Shift",
    "Site",
    "Skill",
    "Technician",
    "TechnicianSkill",
    "Tenant",
    "Territory",
    "User",
    "WorkOrder",
    "WorkOrderCounter",
    "WorkOrderEvent",
    "WorkOrderHelper",
    "metadata",
]
