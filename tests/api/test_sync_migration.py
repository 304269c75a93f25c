"""Sync schema versions: v1 apps keep their shape, v2 adds checklists and KB, migrations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import factories as f
from tests.api.test_sync import ids, pull, row

V2_MIGRATION = json.dumps(
    {
        "from": 1,
        "tables": ["checklist_templates", "kb_articles", "app_local_drafts"],
        "columns": [
            {"table": "work_orders", "columns": ["checklist_template_id", "due_at"]},
            {"table": "app_local_drafts", "columns": ["body"]},
        ],
    }
)
ITEMS = [
    {"key": "doors", "label": "Door operation", "kind": "check", "required": True},
    {"key": "rail", "label": "Guide rail", "kind": "choice", "choices": ["ok", "cleaned"]},
]


@pytest.fixture()
def reference(world: Any, session: Any) -> Any:
    """Skills, a template, and articles for everyone / for elevators / for HVAC / a draft."""
    f.make_skill(session, world.a, "elevator")
    f.make_skill(session, world.a, "hvac")
    session.commit()
    admin = world.admin

    def made(path: str, body: dict[str, Any]) -> str:
        r = admin.post(path, json=body)
        assert r.status_code == 201, r.json
        return str(r.json["id"])

    out = {
        "template": made(
            "/api/v1/checklist-templates", {"name": "Elevator service", "items": ITEMS}
        ),
        "everyone": made(
            "/api/v1/kb-articles", {"title": "Site safety", "body": "Helmets.", "published": True}
        ),
        "elevator": made(
            "/api/v1/kb-articles",
            {"title": "Door faults", "skill_codes": ["elevator"], "published": True},
        ),
        "hvac": made(
            "/api/v1/kb-articles",
            {"title": "Chiller alarms", "skill_codes": ["hvac"], "published": True},
        ),
        "draft": made("/api/v1/kb-articles", {"title": "Draft", "published": False}),
    }
    r = world.dispatcher.get(f"/api/v1/technicians/{world.tech.id}")
    etag = r.headers.get("ETag")
    headers = {"If-Match": etag} if etag else {}
    r = world.dispatcher.patch(
        f"/api/v1/technicians/{world.tech.id}",
        json={"skills": [{"skill": "elevator", "level": 3}]},
        headers=headers,
    )
    assert r.status_code == 200, r.json
    return out


def set_skills(world: Any, *codes: str) -> None:
    """Replace the technician's skills (level 3 each)."""
    r = world.dispatcher.get(f"/api/v1/technicians/{world.tech.id}")
    etag = r.headers.get("ETag")
    r = world.dispatcher.patch(
        f"/api/v1/technicians/{world.tech.id}",
        json={"skills": [{"skill": c, "level": 3} for c in codes]},
        headers={"If-Match": etag} if etag else {},
    )
    assert r.status_code == 200, r.json


def test_a_v1_app_never_sees_v2_tables_or_columns(world: Any, field: Any, reference: Any) -> None:
    body = pull(world.technician, schema_version=1).json
    assert "checklist_templates" not in body["changes"]
    assert "kb_articles" not in body["changes"]
    order = row(body, "work_orders", field.mine.id)
    assert "checklist_template_id" not in order and "due_at" not in order
    t1 = body["timestamp"]
    world.admin.patch(f"/api/v1/kb-articles/{reference['elevator']}", json={"title": "Doors"})
    later = pull(world.technician, t1, schema_version=1).json
    assert set(later["changes"]) == set(body["changes"])


def test_a_v2_first_sync_holds_templates_and_the_technicians_articles(
    world: Any, field: Any, reference: Any
) -> None:
    body = pull(world.technician, schema_version=2).json
    assert ids(body, "checklist_templates", "created") == {reference["template"]}
    template = row(body, "checklist_templates", reference["template"])
    assert json.loads(template["items"])[0]["key"] == "doors"
    # Published, and for everyone or for a skill the technician holds (elevator).
    assert ids(body, "kb_articles", "created") == {reference["everyone"], reference["elevator"]}
    order = row(body, "work_orders", field.mine.id)
    assert "checklist_template_id" in order and "due_at" in order


def test_migration_brings_new_tables_and_columns_in_full(
    world: Any, field: Any, reference: Any
) -> None:
    t1 = pull(world.technician, schema_version=1).json["timestamp"]
    # The app is upgraded to schema 2; WatermelonDB sends what its migrations added.
    r = pull(world.technician, t1, schema_version=2, migration=V2_MIGRATION)
    assert r.status_code == 200, r.json
    body = r.json
    assert ids(body, "checklist_templates", "created") == {reference["template"]}
    assert ids(body, "kb_articles", "created") == {reference["everyone"], reference["elevator"]}
    # Rows of a table that gained columns come again in full, as updates.
    assert ids(body, "work_orders", "updated") == {str(field.mine.id)}
    assert "due_at" in row(body, "work_orders", field.mine.id)
    assert "app_local_drafts" not in body["changes"]  # local-only tables are ignored
    # Without a migration the same pull sends nothing new.
    quiet = pull(world.technician, t1, device="other", schema_version=2).json
    assert not ids(quiet, "checklist_templates", "created")


@pytest.mark.parametrize(
    "migration",
    [
        "{not json",
        "[1]",
        '{"from": "1", "tables": [], "columns": []}',
        '{"from": 2, "tables": [], "columns": []}',
        '{"from": 1, "tables": "kb_articles", "columns": []}',
        '{"from": 1, "tables": [], "columns": [{"table": "work_orders"}]}',
        '{"from": 1, "tables": [], "columns": [], "extra": 1}',
    ],
)
def test_malformed_migrations_are_422(world: Any, field: Any, migration: str) -> None:
    r = pull(world.technician, 5, schema_version=2, migration=migration)
    assert r.status_code == 422 and r.json["code"] == "invalid_migration", r.json


def test_articles_follow_the_technicians_skills(world: Any, field: Any, reference: Any) -> None:
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    set_skills(world, "hvac")  # elevator lost, hvac gained
    body = pull(world.technician, t0, schema_version=2).json
    assert ids(body, "kb_articles", "created") == {reference["hvac"]}
    assert ids(body, "kb_articles", "deleted") == {reference["elevator"]}
    t1 = body["timestamp"]
    # Publishing makes an article new to devices; unpublishing removes it.
    world.admin.patch(f"/api/v1/kb-articles/{reference['draft']}", json={"published": True})
    world.admin.patch(f"/api/v1/kb-articles/{reference['hvac']}", json={"published": False})
    world.admin.patch(f"/api/v1/kb-articles/{reference['everyone']}", json={"body": "Boots."})
    body = pull(world.technician, t1, schema_version=2).json
    assert ids(body, "kb_articles", "created") == {reference["draft"]}
    assert ids(body, "kb_articles", "updated") == {reference["everyone"]}
    assert ids(body, "kb_articles", "deleted") == {reference["hvac"]}


def test_deactivated_templates_leave_devices(world: Any, field: Any, reference: Any) -> None:
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    r = world.admin.patch(
        f"/api/v1/checklist-templates/{reference['template']}", json={"active": False}
    )
    assert r.status_code == 200, r.json
    body = pull(world.technician, t0, schema_version=2).json
    assert ids(body, "checklist_templates", "deleted") == {reference["template"]}
    t1 = body["timestamp"]
    world.admin.patch(f"/api/v1/checklist-templates/{reference['template']}", json={"active": True})
    body = pull(world.technician, t1, schema_version=2).json
    assert ids(body, "checklist_templates", "created") == {reference["template"]}
