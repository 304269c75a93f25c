"""HTTP endpoints of this domain."""

from server.http import Blueprint

blp = Blueprint(
    "work_orders",
    __name__,
    url_prefix="/work-orders",
    description="Work orders and their lifecycle.",
)
