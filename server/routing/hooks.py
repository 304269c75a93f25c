"""Calls from the work-order service into the routing rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.customers.models import Site
from server.routing import service


def route_new_order(
    *, db_session: Session, principal: Principal, data: dict[str, Any], site: Site
) -> dict[str, Any]:
    """The create data after the tenant's rules ran (a new dict; ``data`` is untouched).

    May set category, priority, support_tier, required_skills, team_queue, tags and
    lead_technician_id; a ``routing`` key (JSON-able) goes into the created event.
    One query when the tenant has no active rules; a rule never fails a creation.
    """
    return service.route(db_session=db_session, data=data, site=site)
