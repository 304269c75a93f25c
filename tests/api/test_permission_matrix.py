"""Role x endpoint matrix: the policy is written out here, and every route must be in it.

A new endpoint fails this test until someone decides who may call it. Each role outside the
allowed set gets 403 role_forbidden; anonymous callers get 401; allowed roles get past the
role check (whatever the handler then answers).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

ALL = {"admin", "dispatcher", "agent", "technician"}
OFFICE = {"admin", "dispatcher", "agent"}
PLANNERS = {"admin", "dispatcher"}
ADMIN = {"admin"}
# Technicians may read these items only when linked to their own orders (else 404).
OFFICE_AND_LINKED_TECH = ALL
PUBLIC: set[str] = set()

MATRIX: dict[tuple[str, str], set[str] | None] = {
    # --- service desk: SLA (calendars, policies, clocks, escalations) ---
    ("GET", "/api/v1/sla/calendars"): OFFICE,
    ("POST", "/api/v1/sla/calendars"): ADMIN,
    ("GET", "/api/v1/sla/calendars/<uuid:calendar_id>"): OFFICE,
    ("PATCH", "/api/v1/sla/calendars/<uuid:calendar_id>"): ADMIN,
    ("DELETE", "/api/v1/sla/calendars/<uuid:calendar_id>"): ADMIN,
    ("GET", "/api/v1/sla/policies"): OFFICE,
    ("POST", "/api/v1/sla/policies"): ADMIN,
    ("GET", "/api/v1/sla/policies/<uuid:policy_id>"): OFFICE,
    ("PATCH", "/api/v1/sla/policies/<uuid:policy_id>"): ADMIN,
    ("GET", "/api/v1/sla/escalations"): OFFICE,
    ("POST", "/api/v1/sla/escalations/<uuid:escalation_id>/acknowledge"): OFFICE,
    # Technicians read the clocks of their own orders only (else 404).
    ("GET", "/api/v1/work-orders/<uuid:order_id>/sla"): OFFICE_AND_LINKED_TECH,
    # --- service desk: intake (QR codes, labels, public requests, channels) ---
    ("GET", "/api/v1/equipment/<uuid:equipment_id>/qr"): OFFICE,
    ("POST", "/api/v1/equipment/<uuid:equipment_id>/qr"): PLANNERS,
    ("DELETE", "/api/v1/equipment/<uuid:equipment_id>/qr"): PLANNERS,
    ("GET", "/api/v1/equipment/<uuid:equipment_id>/qr.svg"): OFFICE,
    ("GET", "/api/v1/equipment/<uuid:equipment_id>/qr.png"): OFFICE,
    ("POST", "/api/v1/equipment/qr-labels"): PLANNERS,
    ("GET", "/api/v1/public/qr/<token>"): None,
    ("POST", "/api/v1/public/qr/<token>/requests"): None,
    ("GET", "/api/v1/public/tracking/<token>"): None,
    # --- service desk: routing rules and inbound channels ---
    ("GET", "/api/v1/routing/rules"): OFFICE,
    ("POST", "/api/v1/routing/rules"): ADMIN,
    ("PUT", "/api/v1/routing/rules/positions"): ADMIN,
    ("GET", "/api/v1/routing/rules/<uuid:rule_id>"): OFFICE,
    ("PATCH", "/api/v1/routing/rules/<uuid:rule_id>"): ADMIN,
    ("DELETE", "/api/v1/routing/rules/<uuid:rule_id>"): ADMIN,
    ("POST", "/api/v1/routing/dry-run"): OFFICE,
    ("POST", "/api/v1/channels/email/<string:tenant_slug>"): None,
    ("POST", "/api/v1/channels/web/<string:tenant_slug>"): None,
    ("GET", "/api/v1/channels/inbox"): OFFICE,
    ("GET", "/api/v1/channels/inbox/<uuid:item_id>"): OFFICE,
    ("POST", "/api/v1/channels/inbox/<uuid:item_id>/convert"): OFFICE,
    ("POST", "/api/v1/channels/inbox/<uuid:item_id>/dismiss"): OFFICE,
    # --- service desk: comments, subtasks, support tiers, defects ---
    ("GET", "/api/v1/work-orders/<uuid:order_id>/comments"): OFFICE_AND_LINKED_TECH,
    ("POST", "/api/v1/work-orders/<uuid:order_id>/comments"): OFFICE_AND_LINKED_TECH,
    ("GET", "/api/v1/work-orders/<uuid:order_id>/subtasks"): OFFICE_AND_LINKED_TECH,
    ("POST", "/api/v1/work-orders/<uuid:order_id>/subtasks"): OFFICE,
    ("POST", "/api/v1/work-orders/<uuid:order_id>/resolve-remotely"): OFFICE,
    ("POST", "/api/v1/work-orders/<uuid:order_id>/escalate-l3"): OFFICE,
    ("GET", "/api/v1/defects"): OFFICE,
    ("GET", "/api/v1/defects/patterns"): OFFICE,
    ("GET", "/api/v1/defects/<uuid:defect_id>"): OFFICE,
    ("PATCH", "/api/v1/defects/<uuid:defect_id>"): PLANNERS,
    ("GET", "/api/v1/stock/reports/consumption"): OFFICE,
    ("GET", "/api/v1/stock/reports/reorder"): OFFICE,
    ("GET", "/api/v1/stock/reports/turnover"): OFFICE,
    ("GET", "/api/v1/stock/reports/work-orders/<uuid:work_order_id>"): OFFICE,
    ("PUT", "/api/v1/stock/levels"): PLANNERS,
    ("GET", "/api/v1/stock/rma"): OFFICE,
    ("GET", "/api/v1/stock/rma/<uuid:case_id>"): OFFICE,
    ("POST", "/api/v1/stock/rma/<uuid:case_id>/transitions"): PLANNERS,
    ("POST", "/api/v1/auth/login"): None,
    ("POST", "/api/v1/auth/refresh"): None,
    ("POST", "/api/v1/auth/logout"): None,
    ("POST", "/api/v1/auth/firebase"): None,
    ("GET", "/api/v1/auth/me"): ALL,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/<uuid:user_id>"): ADMIN,
    ("PATCH", "/api/v1/users/<uuid:user_id>"): ADMIN,
    ("GET", "/api/v1/tenant"): ALL,
    ("PATCH", "/api/v1/tenant"): ADMIN,
    ("GET", "/api/v1/skills"): ALL,
    ("POST", "/api/v1/skills"): ADMIN,
    ("GET", "/api/v1/skills/<uuid:skill_id>"): ALL,
    ("PATCH", "/api/v1/skills/<uuid:skill_id>"): ADMIN,
    ("GET", "/api/v1/territories"): ALL,
    ("POST", "/api/v1/territories"): ADMIN,
    ("GET", "/api/v1/territories/<uuid:territory_id>"): ALL,
    ("PATCH", "/api/v1/territories/<uuid:territory_id>"): ADMIN,
    ("GET", "/api/v1/custom-fields"): ALL,
    ("POST", "/api/v1/custom-fields"): ADMIN,
    ("GET", "/api/v1/custom-fields/<uuid:field_id>"): ALL,
    ("PATCH", "/api/v1/custom-fields/<uuid:field_id>"): ADMIN,
    ("GET", "/api/v1/parts"): ALL,
    ("POST", "/api/v1/parts"): ADMIN,
    ("GET", "/api/v1/parts/<uuid:part_id>"): ALL,
    ("PATCH", "/api/v1/parts/<uuid:part_id>"): ADMIN,
    # Spare-parts ledger: everyone reads locations and balances (technicians: their own van's
    # balances only); planners post and reverse; the office reads movements and settles.
    ("GET", "/api/v1/stock/locations"): ALL,
    ("POST", "/api/v1/stock/locations"): PLANNERS,
    ("GET", "/api/v1/stock/locations/<uuid:location_id>"): ALL,
    ("PATCH", "/api/v1/stock/locations/<uuid:location_id>"): PLANNERS,
    ("GET", "/api/v1/stock/movements"): OFFICE,
    ("POST", "/api/v1/stock/movements"): PLANNERS,
    ("GET", "/api/v1/stock/movements/<uuid:movement_id>"): OFFICE,
    ("POST", "/api/v1/stock/movements/<uuid:movement_id>/reverse"): PLANNERS,
    ("GET", "/api/v1/stock/balances"): ALL,
    ("GET", "/api/v1/stock/serials/<path:serial>"): OFFICE,
    ("GET", "/api/v1/stock/discrepancies"): OFFICE,
    ("POST", "/api/v1/stock/discrepancies/<uuid:discrepancy_id>/resolve"): OFFICE,
    ("GET", "/api/v1/checklist-templates"): ALL,
    ("POST", "/api/v1/checklist-templates"): PLANNERS,
    ("GET", "/api/v1/checklist-templates/<uuid:template_id>"): ALL,
    ("PATCH", "/api/v1/checklist-templates/<uuid:template_id>"): PLANNERS,
    # Technicians read published articles only (drafts answer 404).
    ("GET", "/api/v1/kb-articles"): ALL,
    ("POST", "/api/v1/kb-articles"): PLANNERS,
    ("GET", "/api/v1/kb-articles/<uuid:article_id>"): ALL,
    ("PATCH", "/api/v1/kb-articles/<uuid:article_id>"): PLANNERS,
    ("GET", "/api/v1/technicians"): OFFICE,
    ("POST", "/api/v1/technicians"): PLANNERS,
    ("GET", "/api/v1/technicians/<uuid:technician_id>"): ALL,
    ("PATCH", "/api/v1/technicians/<uuid:technician_id>"): PLANNERS,
    ("GET", "/api/v1/customers"): OFFICE,
    ("POST", "/api/v1/customers"): OFFICE,
    ("GET", "/api/v1/customers/<uuid:customer_id>"): OFFICE_AND_LINKED_TECH,
    ("PATCH", "/api/v1/customers/<uuid:customer_id>"): OFFICE,
    ("GET", "/api/v1/customers/<uuid:customer_id>/overview"): OFFICE_AND_LINKED_TECH,
    ("GET", "/api/v1/sites"): OFFICE,
    ("POST", "/api/v1/sites"): OFFICE,
    ("GET", "/api/v1/sites/<uuid:site_id>"): OFFICE_AND_LINKED_TECH,
    ("PATCH", "/api/v1/sites/<uuid:site_id>"): OFFICE,
    ("GET", "/api/v1/equipment"): OFFICE,
    ("POST", "/api/v1/equipment"): OFFICE,
    ("GET", "/api/v1/equipment/<uuid:equipment_id>"): OFFICE_AND_LINKED_TECH,
    ("PATCH", "/api/v1/equipment/<uuid:equipment_id>"): OFFICE,
    ("GET", "/api/v1/equipment/<uuid:equipment_id>/history"): OFFICE_AND_LINKED_TECH,
    ("GET", "/api/v1/equipment/<uuid:equipment_id>/config-revisions"): OFFICE_AND_LINKED_TECH,
    ("GET", "/api/v1/work-orders"): ALL,
    ("POST", "/api/v1/work-orders"): OFFICE,
    ("GET", "/api/v1/work-orders/<uuid:order_id>"): ALL,
    ("PATCH", "/api/v1/work-orders/<uuid:order_id>"): OFFICE,
    ("GET", "/api/v1/work-orders/<uuid:order_id>/transitions"): ALL,
    ("POST", "/api/v1/work-orders/<uuid:order_id>/transitions"): ALL,
    ("GET", "/api/v1/work-orders/<uuid:order_id>/events"): ALL,
    ("GET", "/api/v1/dispatch/runs"): PLANNERS,
    ("POST", "/api/v1/dispatch/runs"): PLANNERS,
    ("GET", "/api/v1/dispatch/runs/<uuid:run_id>"): PLANNERS,
    ("GET", "/api/v1/dispatch/runs/<uuid:run_id>/plan"): PLANNERS,
    ("GET", "/api/v1/dispatch/runs/<uuid:run_id>/preview"): PLANNERS,
    ("POST", "/api/v1/dispatch/runs/<uuid:run_id>/apply"): PLANNERS,
    ("POST", "/api/v1/dispatch/runs/<uuid:run_id>/cancel"): PLANNERS,
    ("POST", "/api/v1/dispatch/insertions"): PLANNERS,
    ("GET", "/api/v1/dispatch/recommendations"): PLANNERS,
    ("POST", "/api/v1/dispatch/moves"): PLANNERS,
    ("POST", "/api/v1/technicians/me/position"): {"technician"},
    ("GET", "/api/v1/pool"): PLANNERS | {"technician"},
    ("POST", "/api/v1/pool"): PLANNERS,
    ("DELETE", "/api/v1/pool/<uuid:entry_id>"): PLANNERS,
    ("POST", "/api/v1/pool/<uuid:entry_id>/claim"): {"technician"},
    ("GET", "/api/v1/board/gantt"): OFFICE,
    ("GET", "/api/v1/board/map"): OFFICE,
    # Any signed-in user may call sync; the service then refuses non-technicians (403).
    ("GET", "/api/v1/sync"): ALL,
    ("POST", "/api/v1/sync"): ALL,
    ("GET", "/api/v1/sync/conflicts"): OFFICE,
    ("POST", "/api/v1/sync/conflicts/<uuid:conflict_id>/resolve"): OFFICE,
    # Photos: every role uploads and reads any blob of its tenant (for now).
    ("PUT", "/api/v1/blobs/<sha256>"): ALL,
    ("GET", "/api/v1/blobs/<sha256>"): ALL,
    ("GET", "/api/v1/blobs/<sha256>/thumbnail"): ALL,
    ("GET", "/api/v1/blobs/<sha256>/meta"): ALL,
    # Push tokens: every signed-in user manages the tokens of their own installs.
    ("GET", "/api/v1/devices/tokens"): ALL,
    ("PUT", "/api/v1/devices/tokens"): ALL,
    ("DELETE", "/api/v1/devices/tokens/<path:token>"): ALL,
    # Requisitions: everyone files and reads (technicians: their own, else 404), planners
    # decide (never their own), the office ships; reservations are the office's.
    ("GET", "/api/v1/stock/requisitions"): ALL,
    ("POST", "/api/v1/stock/requisitions"): ALL,
    ("GET", "/api/v1/stock/requisitions/<uuid:requisition_id>"): ALL,
    ("POST", "/api/v1/stock/requisitions/<uuid:requisition_id>/approve"): PLANNERS,
    ("POST", "/api/v1/stock/requisitions/<uuid:requisition_id>/reject"): PLANNERS,
    ("POST", "/api/v1/stock/requisitions/<uuid:requisition_id>/ship"): OFFICE,
    ("POST", "/api/v1/stock/requisitions/<uuid:requisition_id>/receive"): ALL,
    ("POST", "/api/v1/stock/requisitions/<uuid:requisition_id>/cancel"): ALL,
    ("POST", "/api/v1/stock/returns"): ALL,
    ("GET", "/api/v1/stock/reservations"): OFFICE,
    ("POST", "/api/v1/stock/reservations"): OFFICE,
    ("GET", "/api/v1/stock/reservations/<uuid:reservation_id>"): OFFICE,
    ("POST", "/api/v1/stock/reservations/<uuid:reservation_id>/release"): OFFICE,
}


def api_routes(app: Any) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, rule.rule))
    return routes


def test_every_route_has_a_policy(app: Any) -> None:
    assert api_routes(app) == set(MATRIX)


def concrete(rule: str) -> str:
    parts = []
    for part in rule.split("/"):
        parts.append(str(uuid.uuid4()) if part.startswith("<") else part)
    return "/".join(parts)


def call(client: Any, method: str, url: str) -> Any:
    kwargs: dict[str, Any] = {"headers": {"If-Match": "*"}}
    if method in {"POST", "PATCH"}:
        kwargs["json"] = {}
    return getattr(client, method.lower())(url, **kwargs)


@pytest.mark.parametrize("method,rule", sorted(MATRIX))
def test_roles(world: Any, method: str, rule: str) -> None:
    allowed = MATRIX[(method, rule)]
    url = concrete(rule)
    if allowed is None:  # public: reaches the handler without a token
        r = call(world.api, method, url)
        assert r.status_code != 401 or r.json["code"] != "unauthorized"
        return
    anonymous = call(world.api, method, url)
    assert anonymous.status_code == 401 and anonymous.json["code"] == "unauthorized"
    for role in sorted(ALL):
        r = call(getattr(world, role), method, url)
        if role in allowed:
            code = r.json.get("code") if isinstance(r.json, dict) else None
            assert code not in {"role_forbidden", "unauthorized"}, (
                role,
                r.status_code,
                r.json,
            )
        else:
            assert r.status_code == 403 and r.json["code"] == "role_forbidden", (role, r.json)
