"""HTTP endpoints of this domain."""

from server.http import Blueprint

blp = Blueprint("parts", __name__, url_prefix="/parts", description="parts.")
