"""HTTP endpoints of this domain."""

from server.http import Blueprint

customers_blp = Blueprint("customers", __name__, url_prefix="/customers", description="customers.")
sites_blp = Blueprint("sites", __name__, url_prefix="/sites", description="sites.")
