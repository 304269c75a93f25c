"""Sign-in, token rotation, sign-out, Firebase exchange, user administration."""

from __future__ import annotations

from typing import Any

import pytest

from server import InsecureConfiguration, create_app
from tests import factories as f


def login(world: Any, email: str, password: str = f.PASSWORD) -> Any:
    return world.api.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_returns_tokens_and_me_works(world: Any) -> None:
    r = login(world, world.users["dispatcher"].email)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["token_type"] == "Bearer" and body["user"]["role"] == "dispatcher"
    assert "password_hash" not in body["user"]
    me = world.api.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json["id"] == str(world.users["dispatcher"].id)


@pytest.mark.parametrize(
    "email,password", [("nobody@example.com", f.PASSWORD), (None, "wrong-password")]
)
def test_bad_credentials_are_401_with_code(world: Any, email: str | None, password: str) -> None:
    r = login(world, email or world.users["admin"].email, password)
    assert r.status_code == 401 and r.json["code"] == "invalid_credentials"


def test_inactive_user_cannot_login_and_token_stops_working(world: Any, session: Any) -> None:
    user = world.users["agent"]
    assert world.agent.get("/api/v1/auth/me").status_code == 200
    user.is_active = False
    session.commit()
    assert login(world, user.email).status_code == 401
    r = world.agent.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.json["code"] == "invalid_token"


def test_refresh_rotates_and_reuse_revokes_family(world: Any) -> None:
    first = login(world, world.users["admin"].email).json
    r = world.api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json
    assert second["refresh_token"] != first["refresh_token"]
    replay = world.api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.json["code"] == "refresh_token_reused"
    # The thief's replay also killed the legitimate successor.
    r = world.api.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401 and r.json["code"] == "invalid_refresh_token"


def test_logout_revokes_refresh_token(world: Any) -> None:
    tokens = login(world, world.users["admin"].email).json
    assert (
        world.api.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 204
    )
    r = world.api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic abc", "Bearer "])
def test_bad_bearer_tokens(world: Any, header: str) -> None:
    r = world.api.get("/api/v1/auth/me", headers={"Authorization": header})
    assert r.status_code == 401 and r.json["code"] in {"invalid_token", "unauthorized"}


def test_anonymous_is_401(world: Any) -> None:
    r = world.api.get("/api/v1/users")
    assert r.status_code == 401 and r.json["code"] == "unauthorized"


def test_firebase_disabled_by_default(world: Any) -> None:
    r = world.api.post("/api/v1/auth/firebase", json={"id_token": "x" * 40})
    assert r.status_code == 403 and r.json["code"] == "firebase_disabled"


def test_firebase_token_maps_to_user_by_verified_email(world: Any, app: Any, session: Any) -> None:
    tech = world.users["technician"]
    seen: list[str] = []

    def verify(token: str) -> dict[str, Any]:
        seen.append(token)
        if token != "good-token-123":
            raise ValueError("bad signature")
        return {"uid": "fb-uid-1", "email": tech.email, "email_verified": True}

    app.config["FIREBASE_AUTH_ENABLED"] = True
    app.extensions["firebase_verifier"] = verify
    try:
        r = world.api.post("/api/v1/auth/firebase", json={"id_token": "good-token-123"})
        assert r.status_code == 200, r.json
        assert r.json["user"]["id"] == str(tech.id)
        session.refresh(tech)
        assert tech.firebase_uid == "fb-uid-1"
        bad = world.api.post("/api/v1/auth/firebase", json={"id_token": "forged-token-123"})
        assert bad.status_code == 401 and bad.json["code"] == "invalid_firebase_token"
        assert seen == ["good-token-123", "forged-token-123"]
    finally:
        app.config["FIREBASE_AUTH_ENABLED"] = False
        app.extensions.pop("firebase_verifier")


def test_production_refuses_firebase_emulator(monkeypatch: Any, database_url: str) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    with pytest.raises(InsecureConfiguration, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app({"ENV_NAME": "production", "DATABASE_URL": database_url, "SECRET_KEY": "s" * 40})


def test_production_refuses_default_secret(monkeypatch: Any, database_url: str) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with pytest.raises(InsecureConfiguration, match="SECRET_KEY"):
        create_app({"ENV_NAME": "production", "DATABASE_URL": database_url})


def _create_user(client: Any, email: str, name: str, role: str) -> Any:
    """POST /users as `client`, with a password long enough to pass."""
    return client.post(
        "/api/v1/users",
        json={"email": email, "name": name, "role": role, "password": "a-long-password"},
    )


def test_admin_manages_users(world: Any) -> None:
    r = _create_user(world.admin, "New@Example.com", "New", "dispatcher")
    assert r.status_code == 201, r.json
    assert r.json["email"] == "new@example.com"
    dup = _create_user(world.admin, "new@example.com", "Dup", "agent")
    assert dup.status_code == 409 and dup.json["code"] == "email_taken"
    uid = r.json["id"]
    r = world.admin.patch(f"/api/v1/users/{uid}", json={"role": "agent"})
    assert r.status_code == 200 and r.json["role"] == "agent"
    listing = world.admin.get("/api/v1/users?role=agent")
    assert listing.status_code == 200
    assert {u["id"] for u in listing.json} >= {uid, str(world.users["agent"].id)}
    assert "X-Pagination" in listing.headers


def test_weak_password_and_bad_role_rejected(world: Any) -> None:
    r = world.admin.post(
        "/api/v1/users",
        json={"email": "x@example.com", "name": "X", "role": "superuser", "password": "short"},
    )
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert set(r.json["errors"]["json"]) == {"role", "password"}


def test_admin_cannot_lock_self_out(world: Any) -> None:
    r = world.admin.patch(f"/api/v1/users/{world.users['admin'].id}", json={"is_active": False})
    assert r.status_code == 422 and r.json["code"] == "self_lockout"


def test_users_of_other_tenant_are_404(world: Any, session: Any) -> None:
    r = world.admin.get(f"/api/v1/users/{world.b_admin.id}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = world.admin.patch(f"/api/v1/users/{world.b_admin.id}", json={"name": "pwned"})
    assert r.status_code == 404
    session.refresh(world.b_admin)
    assert world.b_admin.name != "pwned"


def test_tenant_settings(world: Any) -> None:
    r = world.dispatcher.get("/api/v1/tenant")
    assert r.status_code == 200 and r.json["timezone"] == "Asia/Shanghai"
    assert world.dispatcher.patch("/api/v1/tenant", json={"name": "X"}).status_code == 403
    bad = world.admin.patch("/api/v1/tenant", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    ok = world.admin.patch("/api/v1/tenant", json={"timezone": "Europe/Berlin"})
    assert ok.status_code == 200 and ok.json["timezone"] == "Europe/Berlin"


def test_service_accounts_are_listed_only_on_request_and_cannot_be_changed(
    world: Any, session: Any
) -> None:
    from server.auth.service_accounts import service_principal

    sla = service_principal(db_session=session, tenant_id=world.a.id, kind="sla")
    session.commit()
    listed = world.admin.get("/api/v1/users?per_page=100")
    assert listed.status_code == 200
    ids = {u["id"] for u in listed.json}
    assert str(sla.user_id) not in ids and str(world.users["agent"].id) in ids
    with_service = world.admin.get("/api/v1/users?service_accounts=true&per_page=100")
    assert str(sla.user_id) in {u["id"] for u in with_service.json}
    # The account cannot be given a password or switched on, so nobody signs in as it.
    r = world.admin.patch(
        f"/api/v1/users/{sla.user_id}", json={"is_active": True, "password": "a-long-password"}
    )
    assert r.status_code == 409 and r.json["code"] == "service_account"
    r = _create_user(world.admin, "sla@elsewhere.service.invalid", "Fake", "admin")
    assert r.status_code == 422 and r.json["code"] == "reserved_email"
