"""Fuzz every documented operation from the OpenAPI document: no input may cause a 5xx.

Each operation is exercised as an admin and as a technician (the role with the narrowest
view), with bodies and parameters generated from the committed schemas.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from server.checklists.models import ChecklistTemplate
from server.kb.models import KbArticle
from tests import factories as f

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))


@pytest.mark.slow
def test_no_server_errors_for_any_operation(app: Any, world: Any, session: Any) -> None:
    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer)
    unit = f.make_equipment(session, world.a, site)
    order = f.make_work_order(
        session, world.a, site, lead_technician_id=world.tech.id, equipment_id=unit.id
    )
    skill = f.make_skill(session, world.a, "hvac")
    territory = f.make_territory(session, world.a)
    template = ChecklistTemplate(
        tenant_id=world.a.id,
        name="SOP",
        items=[{"key": "ok", "label": "OK", "kind": "check", "required": True}],
    )
    article = KbArticle(tenant_id=world.a.id, title="Draft", skill_codes=["hvac"])
    session.add_all([template, article])
    session.commit()
    # Random UUIDs only ever reach the 404 branch; real ids reach the code behind it.
    known = {
        "order_id": order.id,
        "user_id": world.users["technician"].id,
        "customer_id": customer.id,
        "site_id": site.id,
        "equipment_id": unit.id,
        "technician_id": world.tech.id,
        "skill_id": skill.id,
        "territory_id": territory.id,
        "lead_technician_id": world.tech.id,
        "template_id": template.id,
        "checklist_template_id": template.id,
        "article_id": article.id,
    }
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        for who in ("admin", "technician"):
            fuzz(result.ok(), who, getattr(world, who).token, known, failures)
    assert operations >= 10
    assert failures == []


def fuzz(operation: Any, who: str, token: str, known: dict[str, Any], failures: list[str]) -> None:
    """Run generated cases of one operation as one identity, collecting any 5xx."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(), use_known=st.booleans())
    def run(case: Any, use_known: bool) -> None:
        # Never sign out the fuzzing identity halfway through.
        if case.path == "/api/v1/auth/logout":
            return
        if use_known:
            for key in list(case.path_parameters or {}):
                if key in known:
                    case.path_parameters[key] = str(known[key])
            if isinstance(case.body, dict):
                for key in list(case.body):
                    if key in known:
                        case.body[key] = str(known[key])
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        if response.status_code >= 500:
            failures.append(
                f"{who} {case.method} {case.formatted_path} "
                f"{case.query} {case.body!r:.200} -> {response.status_code}"
            )

    run()
