"""HTTP endpoints of this domain."""

from server.http import Blueprint

blp = Blueprint("technicians", __name__, url_prefix="/technicians", description="technicians.")
