"""Every blueprint the API serves, in registration (and documentation) order."""

from server.auth.views import auth_blp, users_blp
from server.tenants.views import blp as tenant_blp

BLUEPRINTS = [
    auth_blp,
    users_blp,
    tenant_blp,
]
