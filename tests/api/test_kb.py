"""Knowledge base: CRUD, drafts hidden from technicians, skill codes, filters, isolation, and
which articles a technician's phone should carry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from server.db import set_tenant
from server.errors import NotFound
from server.kb.service import articles_for_technician
from server.technicians.models import TechnicianSkill
from tests import factories as f

URL = "/api/v1/kb-articles"


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "电梯困人救援流程 Passenger entrapment rescue",
        "body": "## 步骤 Steps\n\n1. Cut main power.\n2. Release the brake by hand.",
        "skill_codes": ["elevator_mech"],
        "equipment_models": ["Gen2", "3300"],
        "tags": ["safety", "rescue"],
        "published": True,
    }
    data.update(overrides)
    return data


@pytest.fixture()
def skills(world: Any, session: Any) -> None:
    """Tenant A's skills; tenant B has a skill code A lacks."""
    f.make_skill(session, world.a, "elevator_mech")
    f.make_skill(session, world.a, "hvac_chiller")
    f.make_skill(session, world.b, "b_only")
    session.commit()


@pytest.fixture()
def article(world: Any, skills: None) -> dict[str, Any]:
    """One published article of tenant A."""
    r = world.admin.post(URL, json=body())
    assert r.status_code == 201, r.json
    created: dict[str, Any] = r.json
    return created


@pytest.fixture()
def draft(world: Any, skills: None) -> dict[str, Any]:
    """One unpublished article of tenant A (created without 'published': a draft)."""
    payload = body(title="Draft: comb plate replacement")
    del payload["published"]
    r = world.dispatcher.post(URL, json=payload)
    assert r.status_code == 201 and r.json["published"] is False
    created: dict[str, Any] = r.json
    return created


def titles(r: Any) -> list[str]:
    assert r.status_code == 200, r.json
    return [a["title"] for a in r.json]


# --- create, read, change ---------------------------------------------------------------


def test_create_and_read(world: Any, article: dict[str, Any]) -> None:
    assert article["title"] == "电梯困人救援流程 Passenger entrapment rescue"
    assert article["body"].startswith("## 步骤")
    assert article["skill_codes"] == ["elevator_mech"]
    assert article["equipment_models"] == ["Gen2", "3300"]
    assert article["tags"] == ["safety", "rescue"] and article["published"] is True
    assert world.agent.get(f"{URL}/{article['id']}").json == article


def test_values_are_trimmed_and_deduplicated(world: Any, skills: None) -> None:
    r = world.admin.post(
        URL,
        json=body(
            title="  Padded  ",
            skill_codes=["hvac_chiller", "hvac_chiller"],
            equipment_models=[" 30XA ", "30XA"],
            tags=["a", " a", "b"],
        ),
    )
    assert r.status_code == 201, r.json
    assert r.json["title"] == "Padded" and r.json["skill_codes"] == ["hvac_chiller"]
    assert r.json["equipment_models"] == ["30XA"] and r.json["tags"] == ["a", "b"]


def test_patch_edits_unpublishes_and_there_is_no_delete(
    world: Any, article: dict[str, Any]
) -> None:
    url = f"{URL}/{article['id']}"
    r = world.dispatcher.patch(url, json={"body": "Updated.", "skill_codes": []})
    assert r.status_code == 200 and r.json["body"] == "Updated." and r.json["skill_codes"] == []
    assert r.json["updated_at"] >= article["updated_at"]
    r = world.dispatcher.patch(url, json={"published": False})
    assert r.status_code == 200 and r.json["published"] is False
    assert world.technician.get(url).status_code == 404
    assert world.admin.delete(url).status_code == 405
    assert world.admin.get(url).status_code == 200


@pytest.mark.parametrize("role", ["agent", "technician"])
def test_only_planners_write(world: Any, article: dict[str, Any], role: str) -> None:
    client = getattr(world, role)
    r = client.post(URL, json=body(title="Mine"))
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    r = client.patch(f"{URL}/{article['id']}", json={"published": False})
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.admin.get(f"{URL}/{article['id']}").json["published"] is True


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent"])
def test_the_office_sees_drafts(
    world: Any, article: dict[str, Any], draft: dict[str, Any], role: str
) -> None:
    client = getattr(world, role)
    assert sorted(titles(client.get(URL))) == sorted([article["title"], draft["title"]])
    assert titles(client.get(f"{URL}?published=false")) == [draft["title"]]
    assert client.get(f"{URL}/{draft['id']}").status_code == 200


def test_technicians_never_see_drafts(
    world: Any, article: dict[str, Any], draft: dict[str, Any]
) -> None:
    assert titles(world.technician.get(URL)) == [article["title"]]
    assert titles(world.technician.get(f"{URL}?published=false")) == []
    r = world.technician.get(f"{URL}/{draft['id']}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.technician.get(f"{URL}/{article['id']}").json == article
    world.admin.patch(f"{URL}/{draft['id']}", json={"published": True})
    assert world.technician.get(f"{URL}/{draft['id']}").status_code == 200


# --- validation -------------------------------------------------------------------------


def test_unknown_skill_codes_are_refused(world: Any, skills: None) -> None:
    r = world.admin.post(URL, json=body(skill_codes=["elevator_mech", "b_only", "nope"]))
    assert r.status_code == 422 and r.json["code"] == "unknown_skill"
    assert r.json["errors"] == {
        "skill_codes": {"b_only": ["Unknown skill code."], "nope": ["Unknown skill code."]}
    }
    assert world.admin.get(URL).json == []


def test_patch_checks_skill_codes_too(world: Any, article: dict[str, Any]) -> None:
    r = world.admin.patch(f"{URL}/{article['id']}", json={"skill_codes": ["ghost"]})
    assert r.status_code == 422 and r.json["code"] == "unknown_skill"
    assert world.admin.get(f"{URL}/{article['id']}").json == article


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 301}, "title"),
        ({"body": "b" * 100_001}, "body"),
        ({"skill_codes": ["bad code"]}, "skill_codes"),
        ({"skill_codes": "elevator_mech"}, "skill_codes"),
        ({"equipment_models": [""]}, "equipment_models"),
        ({"tags": [1]}, "tags"),
        ({"tags": ["t"] * 51}, "tags"),
        ({"published": "yes"}, "published"),
        ({"author": "me"}, "author"),
    ],
)
def test_bad_fields(world: Any, skills: None, payload: dict[str, Any], field: str) -> None:
    r = world.admin.post(URL, json=body(**payload))
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert list(r.json["errors"]["json"]) == [field]


def test_long_bodies_up_to_the_limit_are_fine(world: Any, skills: None) -> None:
    r = world.admin.post(URL, json=body(body="长" * 100_000, title="t" * 300))
    assert r.status_code == 201 and len(r.json["body"]) == 100_000


def test_title_is_required(world: Any, skills: None) -> None:
    payload = body()
    del payload["title"]
    r = world.admin.post(URL, json=payload)
    assert r.status_code == 422 and list(r.json["errors"]["json"]) == ["title"]


# --- filters ----------------------------------------------------------------------------


@pytest.fixture()
def library(world: Any, skills: None) -> None:
    """A few articles of tenant A and one of tenant B."""
    rows = [
        body(title="Entrapment rescue", body="Release the brake 100% by hand."),
        body(
            title="冷水机组高压报警 Chiller high pressure",
            body="检查冷却水流量 Check condenser water flow.",
            skill_codes=["hvac_chiller"],
            equipment_models=["30XA"],
            tags=["alarm"],
        ),
        body(
            title="Lockout-tagout",
            body="Isolate and lock every energy source.",
            skill_codes=[],
            equipment_models=[],
            tags=["Safety"],
        ),
        body(title="Draft on brakes", body="Brake wear limits.", published=False),
    ]
    for row in rows:
        assert world.admin.post(URL, json=row).status_code == 201
    assert world.b_api.post(URL, json=body(title="B's rescue", skill_codes=[])).status_code == 201


def test_filters(world: Any, library: None) -> None:
    def got(query: str) -> list[str]:
        return sorted(titles(world.agent.get(f"{URL}?{query}")))

    assert len(got("")) == 4
    assert got("q=BRAKE") == ["Draft on brakes", "Entrapment rescue"]
    assert got("q=brake&published=true") == ["Entrapment rescue"]
    assert got("q=100%25") == ["Entrapment rescue"]  # % matches literally
    assert got("q=冷却水") == ["冷水机组高压报警 Chiller high pressure"]
    assert got("skill=hvac_chiller") == ["冷水机组高压报警 Chiller high pressure"]
    assert got("skill=elevator_mech") == ["Draft on brakes", "Entrapment rescue"]
    assert got("equipment_model=30xa") == ["冷水机组高压报警 Chiller high pressure"]
    assert got("equipment_model=gen2&published=true") == ["Entrapment rescue"]
    assert got("tag=safety") == ["Draft on brakes", "Entrapment rescue", "Lockout-tagout"]
    assert got("tag=alarm&skill=elevator_mech") == []
    ordered = titles(world.agent.get(f"{URL}?sort=title"))
    assert ordered == sorted(ordered)
    assert world.agent.get(f"{URL}?sort=body").json["code"] == "invalid_sort"
    assert world.agent.get(f"{URL}?published=maybe").status_code == 422


def test_technician_filters_never_reveal_drafts(world: Any, library: None) -> None:
    r = world.technician.get(f"{URL}?q=brake")
    assert titles(r) == ["Entrapment rescue"]


# --- tenants ----------------------------------------------------------------------------


def test_other_tenants_articles_look_absent(world: Any, article: dict[str, Any]) -> None:
    url = f"{URL}/{article['id']}"
    assert world.b_api.get(URL).json == []
    assert world.b_api.get(url).status_code == 404
    r = world.b_api.patch(url, json={"published": False})
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.admin.get(url).json["published"] is True
    assert world.admin.get(f"{URL}/{uuid.uuid4()}").status_code == 404


# --- articles_for_technician ------------------------------------------------------------


@pytest.fixture()
def scoped(world: Any, connection: Any) -> Iterator[Session]:
    """A session bound to tenant A, the way a sync pull's session is."""
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    set_tenant(s, world.a.id)
    yield s
    s.close()


def give_skill(session: Any, world: Any, technician: Any, code: str) -> None:
    from server.organization.models import Skill

    skill = session.query(Skill).filter_by(tenant_id=world.a.id, code=code).one()
    technician.skills.append(TechnicianSkill(tenant_id=world.a.id, skill_id=skill.id, level=3))
    session.commit()


def test_articles_for_technician_follow_their_skills(
    world: Any, session: Any, scoped: Session, library: None
) -> None:
    give_skill(session, world, world.tech, "elevator_mech")

    def for_tech(s: Session, technician_id: uuid.UUID) -> list[str]:
        stmt = articles_for_technician(db_session=s, technician_id=technician_id)
        return sorted(a.title for a in s.scalars(stmt))

    # Everyone's and elevator articles; not the chiller one, not the draft, not tenant B's.
    assert for_tech(scoped, world.tech.id) == ["Entrapment rescue", "Lockout-tagout"]
    # No skills: only the articles for everyone.
    assert for_tech(scoped, world.other_tech.id) == ["Lockout-tagout"]
    give_skill(session, world, world.other_tech, "hvac_chiller")
    assert for_tech(scoped, world.other_tech.id) == [
        "Lockout-tagout",
        "冷水机组高压报警 Chiller high pressure",
    ]
    # Even in a system-scope session the statement stays within the technician's tenant.
    assert for_tech(session, world.tech.id) == ["Entrapment rescue", "Lockout-tagout"]


def test_articles_for_an_unknown_technician(world: Any, scoped: Session, session: Any) -> None:
    b_tech = f.make_technician(session, world.b)
    session.commit()
    for technician_id in (uuid.uuid4(), b_tech.id):
        with pytest.raises(NotFound):
            articles_for_technician(db_session=scoped, technician_id=technician_id)
