"""HTTP endpoints of this domain."""

from server.http import Blueprint

skills_blp = Blueprint("skills", __name__, url_prefix="/skills", description="skills.")
territories_blp = Blueprint(
    "territories", __name__, url_prefix="/territories", description="territories."
)
custom_fields_blp = Blueprint(
    "custom_fields", __name__, url_prefix="/custom-fields", description="custom fields."
)
