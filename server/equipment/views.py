"""HTTP endpoints of this domain."""

from server.http import Blueprint

blp = Blueprint("equipment", __name__, url_prefix="/equipment", description="equipment.")
