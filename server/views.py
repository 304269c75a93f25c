"""Every blueprint the API serves, in registration (and documentation) order."""

from server.auth.views import auth_blp, users_blp
from server.blobs.views import blp as blobs_blp
from server.board.views import blp as board_blp
from server.checklists.views import blp as checklists_blp
from server.collab import views as collab_views
from server.customers.views import customers_blp, sites_blp
from server.dispatch.views import blp as dispatch_blp
from server.equipment.views import blp as equipment_blp
from server.intake import pages as intake_pages
from server.intake import views as intake_views
from server.kb.views import blp as kb_blp
from server.notifications.views import blp as devices_blp
from server.organization.views import custom_fields_blp, skills_blp, territories_blp
from server.parts.views import blp as parts_blp
from server.pool.views import blp as pool_blp
from server.routing import views as routing_views
from server.sla import views as sla_views
from server.stock.report_views import blp as stock_reports_blp
from server.stock.requisition_views import blp as stock_requisitions_blp
from server.stock.rma_views import blp as stock_rma_blp
from server.stock.views import blp as stock_blp
from server.sync.views import blp as sync_blp
from server.technicians.views import blp as technicians_blp
from server.tenants.views import blp as tenant_blp
from server.work_orders.views import blp as work_orders_blp

BLUEPRINTS = [
    auth_blp,
    users_blp,
    tenant_blp,
    skills_blp,
    territories_blp,
    custom_fields_blp,
    technicians_blp,
    customers_blp,
    sites_blp,
    equipment_blp,
    work_orders_blp,
    dispatch_blp,
    pool_blp,
    board_blp,
    parts_blp,
    stock_rma_blp,
    stock_reports_blp,
    stock_blp,
    stock_requisitions_blp,
    checklists_blp,
    kb_blp,
    sync_blp,
    blobs_blp,
    devices_blp,
    *sla_views.BLUEPRINTS,
    *routing_views.BLUEPRINTS,
    *collab_views.BLUEPRINTS,
    *intake_views.BLUEPRINTS,
]

# Plain Flask blueprints (public HTML pages), mounted at their own prefixes.
PAGES = [*intake_pages.PAGES]
