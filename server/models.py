"""Import every domain's models so Base.metadata is complete (Alembic target)."""

# Service-desk domains register their tables by import; their names need not be listed.
import server.collab.models  # noqa: F401
import server.intake.models  # noqa: F401
import server.routing.models  # noqa: F401
import server.sla.models  # noqa: F401
from server.auth.models import RefreshToken, User
from server.blobs.models import Blob
from server.checklists.models import ChecklistTemplate
from server.customers.models import Customer, Site
from server.db import Base
from server.dispatch.models import OptimizationRun, PoolEntry
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.field.models import CheckIn, StatusEvent, WorkOrderNote, WorkOrderPhoto
from server.kb.models import KbArticle
from server.notifications.models import DeviceToken, NotificationOutbox
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.parts.models import Part, PartUsage
from server.stock.models import (
    Requisition,
    RequisitionLine,
    Reservation,
    RmaCase,
    SerialUnit,
    StockBalance,
    StockDiscrepancy,
    StockLevel,
    StockLocation,
    StockMovement,
)
from server.sync.models import (
    SyncChange,
    SyncConflict,
    SyncCounter,
    SyncDevice,
    SyncPush,
    SyncScopeExit,
)
from server.technicians.models import Shift, Technician, TechnicianSkill
from server.tenants.models import Tenant
from server.work_orders.models import (
    WorkOrder,
    WorkOrderComment,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderHelper,
)

metadata = Base.metadata

__all__ = [
    "Base",
    "Blob",
    "ChecklistTemplate",
    "CheckIn",
    "StatusEvent",
    "SyncChange",
    "SyncConflict",
    "SyncCounter",
    "SyncDevice",
    "SyncPush",
    "SyncScopeExit",
    "WorkOrderNote",
    "WorkOrderComment",
    "WorkOrderPhoto",
    "Customer",
    "DeviceToken",
    "CustomFieldDefinition",
    "Equipment",
    "EquipmentConfigRevision",
    "KbArticle",
    "NotificationOutbox",
    "OptimizationRun",
    "PoolEntry",
    "Part",
    "PartUsage",
    "Requisition",
    "RequisitionLine",
    "Reservation",
    "RmaCase",
    "SerialUnit",
    "StockBalance",
    "StockDiscrepancy",
    "StockLevel",
    "StockLocation",
    "StockMovement",
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

# Registers the flush hook that feeds the sync change log; every writer imports models.
import server.sync.changelog  # noqa: E402, F401
