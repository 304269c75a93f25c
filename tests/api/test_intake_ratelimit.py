"""Intake rate limits: per client address and per QR token, 429 with Retry-After, storage
in memory (embedded) or Redis, and nothing else in the API throttled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from server.intake import ratelimit
from tests import intake_factories
from tests.intake_factories import VALID_FORM, address, counts, submit, tracking_token_of

REDIS_URL = "redis://127.0.0.1:6379/0"
TWIN = "/api/v1/public/qr/{}/requests"

# Fixtures shared with the other intake test modules.
intake_config = intake_factories.intake_config
unit = intake_factories.unit


def _form(i: int) -> dict[str, str]:
    # Distinct texts: the duplicate guard must not be what answers.
    return {**VALID_FORM, "description": f"Problem number {i}: the lift stops."}


def test_per_address_limit_on_the_page(app: Any, client: Any, session: Any, unit: Any) -> None:
    app.config["INTAKE_SUBMIT_LIMIT_PER_ADDRESS"] = "2/minute"
    me = address()
    for i in range(2):
        tracking_token_of(submit(client, unit.token, _form(i), remote=me))
    before = counts(session)
    r = submit(client, unit.token, _form(3), remote=me)
    assert r.status_code == 429 and r.mimetype == "text/html"
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 60
    assert "Too many requests" in r.get_data(as_text=True)
    assert f"{retry} seconds" in r.get_data(as_text=True)
    assert counts(session) == before
    # Another address is not affected.
    tracking_token_of(submit(client, unit.token, _form(4), remote=address()))


def test_per_token_limit_across_addresses_and_the_twin(
    app: Any, client: Any, session: Any, unit: Any
) -> None:
    app.config["INTAKE_SUBMIT_LIMIT_PER_TOKEN"] = "3/hour"
    tracking_token_of(submit(client, unit.token, _form(1), remote=address()))
    tracking_token_of(submit(client, unit.token, _form(2), remote=address()))
    # The JSON twin shares the token's bucket.
    ok = client.post(
        TWIN.format(unit.token), json=_form(3), environ_base={"REMOTE_ADDR": address()}
    )
    assert ok.status_code == 201
    page = submit(client, unit.token, _form(4), remote=address())
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 60
    twin = client.post(
        TWIN.format(unit.token), json=_form(5), environ_base={"REMOTE_ADDR": address()}
    )
    assert twin.status_code == 429 and twin.json["code"] == "rate_limited"
    assert twin.json["retry_after"] == int(twin.headers["Retry-After"]) > 0
    assert counts(session)[0] == 3


def test_unknown_tokens_are_limited_too(app: Any, client: Any, unit: Any) -> None:
    app.config["INTAKE_SUBMIT_LIMIT_PER_ADDRESS"] = "3/minute"
    me = address()
    codes = [
        client.post(f"/r/guess-{i:020d}", data={}, environ_base={"REMOTE_ADDR": me}).status_code
        for i in range(5)
    ]
    assert codes == [404, 404, 404, 429, 429]


def test_page_views_have_a_looser_limit(app: Any, client: Any, unit: Any) -> None:
    app.config["INTAKE_VIEW_LIMIT_PER_ADDRESS"] = "5/minute"
    me = address()
    codes = [
        client.get(f"/r/{unit.token}", environ_base={"REMOTE_ADDR": me}).status_code
        for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]
    api = client.get(f"/api/v1/public/qr/{unit.token}", environ_base={"REMOTE_ADDR": me})
    assert api.status_code == 429 and api.headers["Retry-After"]
    assert (
        client.get(f"/r/{unit.token}", environ_base={"REMOTE_ADDR": address()}).status_code == 200
    )


def test_the_rest_of_the_api_is_not_limited(app: Any, world: Any, unit: Any) -> None:
    app.config["INTAKE_VIEW_LIMIT_PER_ADDRESS"] = "1/minute"
    app.config["INTAKE_SUBMIT_LIMIT_PER_ADDRESS"] = "1/minute"
    for _ in range(5):
        assert world.agent.get("/api/v1/equipment").status_code == 200
        assert world.admin.post(f"/api/v1/equipment/{unit.equipment.id}/qr").status_code == 201
        assert world.api.client.get("/healthz").status_code == 200


def test_disabled_limiter_lets_everything_through(app: Any, client: Any, unit: Any) -> None:
    app.config["INTAKE_VIEW_LIMIT_PER_ADDRESS"] = "1/minute"
    off = Flask("limits-off")
    off.config.update(RATELIMIT_ENABLED=False, RATELIMIT_STORAGE_URI="memory://")
    saved = app.extensions[ratelimit.EXTENSION]
    app.extensions[ratelimit.EXTENSION] = ratelimit.build_limiter(off)
    try:
        me = address()
        for _ in range(3):
            assert (
                client.get(f"/r/{unit.token}", environ_base={"REMOTE_ADDR": me}).status_code == 200
            )
    finally:
        app.extensions[ratelimit.EXTENSION] = saved


@pytest.fixture()
def redis_limiter(app: Any) -> Iterator[tuple[Any, str]]:
    """The app's limiter swapped for one on the local Redis under a unique key prefix."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"fsm-test-{uuid.uuid4().hex}"
    holder = Flask("redis-limits")
    holder.config.update(RATELIMIT_STORAGE_URI=REDIS_URL)
    saved = (app.extensions[ratelimit.EXTENSION], app.config.get("RATELIMIT_KEY_PREFIX"))
    app.extensions[ratelimit.EXTENSION] = ratelimit.build_limiter(holder)
    app.config["RATELIMIT_KEY_PREFIX"] = prefix
    try:
        yield client, prefix
    finally:
        app.extensions[ratelimit.EXTENSION], app.config["RATELIMIT_KEY_PREFIX"] = saved
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        client.close()


def test_redis_storage(app: Any, client: Any, unit: Any, redis_limiter: Any) -> None:
    redis, prefix = redis_limiter
    app.config["INTAKE_SUBMIT_LIMIT_PER_TOKEN"] = "2/minute"
    tracking_token_of(submit(client, unit.token, _form(1)))
    tracking_token_of(submit(client, unit.token, _form(2)))
    r = submit(client, unit.token, _form(3))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # The counters live in Redis (shared by every process), under this test's prefix.
    keys = [k.decode() for k in redis.scan_iter(match=f"*{prefix}*")]
    assert any(unit.token in k for k in keys), keys
