"""Intake: equipment QR codes and labels, the public repair page and its JSON twin."""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from server.auth.models import User
from server.blobs.models import Blob
from server.blobs.storage import storage_from_config
from server.intake.models import EquipmentQrCode, IntakeRequest
from server.work_orders.models import WorkOrderComment, WorkOrderEvent
from tests import factories as f
from tests import intake_factories
from tests.intake_factories import (
    VALID_FORM,
    address,
    counts,
    jpeg_with_gps,
    order_of,
    png,
    submit,
    tracking_token_of,
)

QR = "/api/v1/equipment/{}/qr"
TWIN = "/api/v1/public/qr/{}/requests"
TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]{43,}$")

# Fixtures shared with the other intake test modules.
intake_config = intake_factories.intake_config
unit = intake_factories.unit


def html(response: Any) -> str:
    return str(response.get_data(as_text=True))


# --- QR codes --------------------------------------------------------------------------


def test_issue_regenerate_and_revoke(world: Any, client: Any, unit: Any) -> None:
    url = QR.format(unit.equipment.id)
    first = world.agent.get(url)
    assert first.status_code == 200
    assert first.json["token"] == unit.token and first.json["active"] is True
    # 32 random bytes in URL-safe base64: at least 43 characters, 256 bits.
    assert TOKEN_CHARS.match(unit.token)
    assert first.json["url"].endswith(f"/r/{unit.token}")
    assert client.get(f"/r/{unit.token}").status_code == 200

    regenerated = world.dispatcher.post(url)
    assert regenerated.status_code == 201
    new = regenerated.json["token"]
    assert new != unit.token and TOKEN_CHARS.match(new)
    old_page = client.get(f"/r/{unit.token}")
    assert old_page.status_code == 404
    assert "not valid" in html(old_page) and old_page.mimetype == "text/html"
    assert client.get(f"/api/v1/public/qr/{unit.token}").json["code"] == "qr_unknown"
    assert client.get(f"/r/{new}").status_code == 200

    assert world.admin.delete(url).status_code == 204
    assert world.admin.delete(url).status_code == 204  # idempotent
    shown = world.agent.get(url).json
    assert shown["active"] is False and shown["revoked_at"] and shown["token"] == new
    assert client.get(f"/r/{new}").status_code == 404
    assert client.get(f"/r/{new}?lang=zh").get_data(as_text=True).count("二维码无效") >= 1
    assert world.agent.get(f"{url}.svg").json["code"] == "qr_code_missing"
    assert world.admin.post(url).json["active"] is True


def test_tokens_are_unique(world: Any, unit: Any) -> None:
    url = QR.format(unit.equipment.id)
    tokens = {world.admin.post(url).json["token"] for _ in range(20)}
    assert len(tokens) == 20


def test_missing_and_foreign_codes(world: Any, session: Any, unit: Any) -> None:
    other = f.make_equipment(session, world.a, unit.site)
    session.commit()
    r = world.agent.get(QR.format(other.id))
    assert r.status_code == 404 and r.json["code"] == "qr_code_missing"
    assert world.agent.get(QR.format(f.new_id())).json["code"] == "not_found"
    # Tenant B sees neither tenant A's unit nor its code.
    assert world.b_api.get(QR.format(unit.equipment.id)).status_code == 404
    assert world.b_api.post(QR.format(unit.equipment.id)).status_code == 404
    assert world.b_api.get(QR.format(unit.equipment.id) + ".png").status_code == 404


def test_qr_images(world: Any, unit: Any) -> None:
    svg = world.agent.get(QR.format(unit.equipment.id) + ".svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    root = ET.fromstring(svg.data)
    assert root.tag.endswith("svg")
    pic = world.agent.get(QR.format(unit.equipment.id) + ".png")
    assert pic.status_code == 200 and pic.mimetype == "image/png"
    image = Image.open(io.BytesIO(pic.data))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 200


def test_label_sheet(world: Any, session: Any, unit: Any) -> None:
    second = f.make_equipment(
        session, world.a, unit.site, name="<script>alert(1)</script>", serial_number="S&N-2"
    )
    session.commit()
    r = world.dispatcher.post(
        "/api/v1/equipment/qr-labels",
        json={"equipment_ids": [str(unit.equipment.id), str(second.id)]},
    )
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = html(r)
    assert page.count("<svg") == 2 and "size:A4" in page
    for text in ("Lift 3", "Gen2-MRL", "SN-42-XYZ", "Jinmao Tower – Block B", unit.token):
        assert text in page
    # The code of the second unit was issued on the fly, and names are escaped.
    issued = world.agent.get(QR.format(second.id)).json
    assert issued["active"] is True and issued["token"] in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "S&amp;N-2" in page
    # A revoked code gets a fresh one when its label is printed again.
    world.admin.delete(QR.format(second.id))
    again = html(
        world.admin.post("/api/v1/equipment/qr-labels", json={"equipment_ids": [str(second.id)]})
    )
    assert issued["token"] not in again
    assert world.agent.get(QR.format(second.id)).json["token"] in again


@pytest.mark.parametrize(
    "body,code",
    [
        ({"equipment_ids": []}, "validation_error"),
        ({"equipment_ids": ["nope"]}, "validation_error"),
        ({"equipment_ids": [f.new_id() for _ in range(201)]}, "validation_error"),
        ({"equipment_ids": [f.new_id()]}, "unknown_equipment"),
        ({"equipment_ids": [], "extra": 1}, "validation_error"),
    ],
)
def test_label_sheet_bad_input(world: Any, unit: Any, body: Any, code: str) -> None:
    r = world.admin.post("/api/v1/equipment/qr-labels", json=body)
    assert r.status_code == 422 and r.json["code"] == code


# --- the repair page -------------------------------------------------------------------


def test_repair_page_shows_unit_and_site(client: Any, unit: Any) -> None:
    r = client.get(f"/r/{unit.token}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = html(r)
    for text in ("Lift 3", "Gen2-MRL", "SN-42-XYZ", "Jinmao Tower – Block B", "Report a problem"):
        assert text in page
    assert 'name="website"' in page  # the honeypot
    assert "nonce-" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "query,header,expected",
    [
        ("?lang=zh", None, "报修"),
        ("", "zh-CN,zh;q=0.9,en;q=0.5", "报修"),
        ("", "de-DE", "Report a problem"),
        ("?lang=xx", None, "Report a problem"),
        ("?lang=en", "zh-CN", "Report a problem"),
    ],
)
def test_language(client: Any, unit: Any, query: str, header: str | None, expected: str) -> None:
    headers = {"Accept-Language": header} if header else {}
    page = html(client.get(f"/r/{unit.token}{query}", headers=headers))
    assert expected in page


def test_submit_creates_a_qr_order_with_photo(
    app: Any, client: Any, session: Any, world: Any, unit: Any
) -> None:
    photo = jpeg_with_gps()
    r = submit(client, unit.token, photos=[(photo, "broken.jpg")], lang="zh")
    token = tracking_token_of(r)
    assert TOKEN_CHARS.match(token) and "done=received" in r.headers["Location"]
    order = order_of(session, token)
    assert order.channel == "qr" and order.status == "new" and order.order_type == "repair"
    assert order.equipment_id == unit.equipment.id and order.site_id == unit.site.id
    assert order.customer_id == unit.customer.id and order.category == "noise"
    assert order.description == VALID_FORM["description"]
    assert order.contact == {
        "name": "Wang Fang",
        "phone": "+86 138 0000 0000",
        "email": "wang.fang@example.com",
        "locale": "zh",
    }
    author = session.get(User, order.created_by_id)
    assert author.email.startswith("portal@") and author.is_active is False
    created = session.scalar(select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order.id))
    assert created.payload["channel"] == "qr"
    comment = session.scalar(
        select(WorkOrderComment).where(WorkOrderComment.work_order_id == order.id)
    )
    assert comment.visibility == "customer" and comment.author_kind == "customer"
    assert len(comment.attachments) == 1
    blob = session.get(Blob, (order.tenant_id, comment.attachments[0]))
    assert blob is not None and blob.content_type == "image/jpeg" and blob.capture == {}
    served = storage_from_config(app.config).get(blob.storage_key)
    assert 0x8825 not in Image.open(io.BytesIO(served)).getexif()  # no GPS IFD left
    # The tracking page opens with the link to keep.
    page = html(client.get(r.headers["Location"]))
    assert order.number in page and token in page and "已受理" in page


def test_submit_without_photos_or_email(client: Any, session: Any, unit: Any) -> None:
    form = {**VALID_FORM, "email": "", "symptom": "other"}
    order = order_of(session, tracking_token_of(submit(client, unit.token, form)))
    assert order.contact["email"] is None and order.contact["phone"]
    assert session.scalars(select(WorkOrderComment)).all() == []


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"description": ""}, "description", "Required."),
        ({"description": "ab"}, "description", "Too short"),
        ({"description": "x" * 4001}, "description", "Too long"),
        ({"symptom": "explosion"}, "symptom", "Pick one"),
        ({"symptom": ""}, "symptom", "Required."),
        ({"name": ""}, "name", "Required."),
        ({"phone": "", "email": ""}, "phone", "phone number or an e-mail"),
        ({"email": "not-an-address"}, "email", "Not a valid e-mail"),
        ({"phone": "call me maybe"}, "phone", "Not a valid phone"),
        ({"description": "bad \x00 byte"}, "description", "cannot be stored"),
    ],
)
def test_submit_validation(
    client: Any, session: Any, unit: Any, change: dict[str, str], field: str, message: str
) -> None:
    before = counts(session)
    r = submit(client, unit.token, {**VALID_FORM, **change})
    assert r.status_code == 422 and r.mimetype == "text/html"
    page = html(r)
    assert f'id="error-{field}"' in page and message in page
    assert r.headers["X-Error-Code"] == "invalid_request"
    assert VALID_FORM["name"] in page or change.get("name") == ""  # input kept
    assert counts(session) == before


def test_submit_validation_in_chinese(client: Any, unit: Any) -> None:
    page = html(submit(client, unit.token, {**VALID_FORM, "name": ""}, lang="zh"))
    assert "必填" in page and "请检查" in page


def test_not_an_image_is_refused_and_nothing_stored(client: Any, session: Any, unit: Any) -> None:
    before = counts(session)
    r = submit(client, unit.token, photos=[(png(), "ok.png"), (b"%PDF-1.4 not an image", "x.jpg")])
    assert r.status_code == 415 and "Only JPEG, PNG or WEBP" in html(r)
    assert r.headers["X-Error-Code"] == "unsupported_media"
    assert counts(session) == before
    assert not list(unit.blob_dir.rglob("*")) or all(p.is_dir() for p in unit.blob_dir.rglob("*"))


def test_oversize_photo(app: Any, client: Any, session: Any, unit: Any) -> None:
    app.config["INTAKE_MAX_PHOTO_BYTES"] = 1024 * 1024
    before = counts(session)
    big = jpeg_with_gps(size=(2500, 2500))
    big += b"\0" * max(0, 1024 * 1024 + 1 - len(big))
    r = submit(client, unit.token, photos=[(big, "big.jpg")])
    assert r.status_code == 413 and "larger than 1 MB" in html(r)
    assert r.headers["X-Error-Code"] == "photo_too_large"
    assert counts(session) == before


def test_too_many_photos(app: Any, client: Any, session: Any, unit: Any) -> None:
    app.config["INTAKE_MAX_PHOTOS"] = 2
    before = counts(session)
    r = submit(client, unit.token, photos=[(png(), f"{i}.png") for i in range(3)])
    assert r.status_code == 422 and "At most 2 photos" in html(r)
    assert counts(session) == before


def test_oversize_body_is_a_friendly_413(app: Any, client: Any, session: Any, unit: Any) -> None:
    app.config["INTAKE_MAX_BODY_BYTES"] = 10_000
    before = counts(session)
    r = submit(client, unit.token, photos=[(b"\xff" * 20_000, "a.jpg")])
    assert r.status_code == 413 and r.mimetype == "text/html"
    assert "Too much data" in html(r) and r.headers["X-Error-Code"] == "payload_too_large"
    assert counts(session) == before


def test_honeypot_pretends_success_and_stores_nothing(client: Any, session: Any, unit: Any) -> None:
    before = counts(session)
    r = submit(client, unit.token, {**VALID_FORM, "website": "http://spam.example"})
    assert r.status_code == 200 and "Request received" in html(r)
    assert "/t/" not in html(r)
    assert counts(session) == before


def test_duplicate_submission_returns_the_same_order(client: Any, session: Any, unit: Any) -> None:
    first = tracking_token_of(submit(client, unit.token))
    # Same text modulo case and spacing, from another phone, a moment later.
    same = {
        **VALID_FORM,
        "description": "  the LIFT makes a grinding   noise between floors 3 and 4. ",
    }
    second = submit(client, unit.token, same)
    assert tracking_token_of(second) == first and "done=duplicate" in second.headers["Location"]
    assert "already sent" in html(client.get(second.headers["Location"]))
    assert counts(session)[:2] == (1, 1)
    # Different text: a new order.
    other = tracking_token_of(
        submit(client, unit.token, {**VALID_FORM, "description": "Door stuck open."})
    )
    assert other != first and counts(session)[:2] == (2, 2)


def test_duplicate_window_expires(app: Any, client: Any, session: Any, unit: Any) -> None:
    first = tracking_token_of(submit(client, unit.token))
    request = session.scalar(select(IntakeRequest).where(IntakeRequest.tracking_token == first))
    request.created_at = request.created_at - dt.timedelta(minutes=11)
    session.commit()
    assert tracking_token_of(submit(client, unit.token)) != first


def test_script_injection_is_escaped_everywhere(client: Any, session: Any, unit: Any) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    form = {**VALID_FORM, "description": f"Broken {evil}", "name": f"Eve {evil}"}
    # Re-rendered form (a validation error elsewhere) echoes the input escaped.
    echoed = html(submit(client, unit.token, {**form, "email": "nope"}))
    assert evil not in echoed and "&lt;script&gt;" in echoed
    token = tracking_token_of(submit(client, unit.token, form, photos=[(png(), "p.png")]))
    for url in (f"/t/{token}", f"/t/{token}/live"):
        page = html(client.get(url))
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    client.post(f"/t/{token}/info", data={"body": evil}, environ_base={"REMOTE_ADDR": address()})
    page = html(client.get(f"/t/{token}"))
    assert "<img src=x" not in page and page.count("&lt;img src=x onerror=alert(1)&gt;") >= 2


@pytest.mark.parametrize(
    "token", ["unknown-token-1234567890", "x" * 80, "abc", "%00" * 20, "..%2F..%2Fetc"]
)
def test_unknown_token_is_a_friendly_404(client: Any, unit: Any, token: str) -> None:
    for method in ("get", "post"):
        r = getattr(client, method)(f"/r/{token}", data={} if method == "post" else None)
        assert r.status_code == 404 and r.mimetype == "text/html", r.status_code
        assert "not valid" in html(r) and r.headers["X-Error-Code"] in {"qr_unknown", "not_found"}
    assert client.get(f"/api/v1/public/qr/{token}").status_code == 404


def test_malformed_multipart_is_4xx(client: Any, unit: Any) -> None:
    r = client.post(
        f"/r/{unit.token}",
        data=b'--zzz\r\nContent-Disposition: form-data; name="x"\r\n\r\n',
        content_type="multipart/form-data; boundary=zzz",
    )
    assert 400 <= r.status_code < 500


# --- the JSON twin ---------------------------------------------------------------------


def test_public_unit_info(client: Any, unit: Any) -> None:
    r = client.get(f"/api/v1/public/qr/{unit.token}")
    assert r.status_code == 200
    assert r.json["name"] == "Lift 3" and r.json["site_name"] == "Jinmao Tower – Block B"
    assert "noise" in r.json["symptoms"]


def test_json_twin(client: Any, session: Any, unit: Any) -> None:
    r = client.post(TWIN.format(unit.token), json={**VALID_FORM, "lang": "zh"})
    assert r.status_code == 201, r.json
    token = r.json["tracking_token"]
    assert r.json["tracking_url"].endswith(f"/t/{token}") and r.json["duplicate"] is False
    order = order_of(session, token)
    assert order.channel == "qr" and order.contact["locale"] == "zh"
    again = client.post(TWIN.format(unit.token), json=VALID_FORM)
    assert again.status_code == 200 and again.json["tracking_token"] == token
    assert again.json["duplicate"] is True
    # The page and the twin share the guard.
    assert tracking_token_of(submit(client, unit.token)) == token
    assert counts(session)[:2] == (1, 1)


@pytest.mark.parametrize(
    "body,code",
    [
        ({**VALID_FORM, "description": "x"}, "invalid_request"),
        ({**VALID_FORM, "phone": "", "email": ""}, "invalid_request"),
        ({**VALID_FORM, "symptom": "fire"}, "validation_error"),
        ({**VALID_FORM, "admin": True}, "validation_error"),
        ({**VALID_FORM, "description": 5}, "validation_error"),
        ({**VALID_FORM, "name": "a\x00b"}, "invalid_text"),
        ({}, "validation_error"),
    ],
)
def test_json_twin_bad_input(client: Any, session: Any, unit: Any, body: Any, code: str) -> None:
    before = counts(session)
    r = client.post(TWIN.format(unit.token), json=body)
    assert r.status_code == 422 and r.json["code"] == code, r.json
    assert counts(session) == before


def test_json_twin_unknown_token_and_honeypot(client: Any, session: Any, unit: Any) -> None:
    r = client.post(TWIN.format("no-such-token-000000000"), json=VALID_FORM)
    assert r.status_code == 404 and r.json["code"] == "qr_unknown"
    before = counts(session)
    fake = client.post(TWIN.format(unit.token), json={**VALID_FORM, "website": "x"})
    assert fake.status_code == 201 and TOKEN_CHARS.match(fake.json["tracking_token"])
    assert counts(session) == before
    assert client.get(f"/t/{fake.json['tracking_token']}").status_code == 404


def test_qr_code_row_per_unit(session: Any, world: Any, unit: Any) -> None:
    world.admin.post(QR.format(unit.equipment.id))
    rows = session.scalars(
        select(EquipmentQrCode).where(EquipmentQrCode.equipment_id == unit.equipment.id)
    ).all()
    assert len(rows) == 1


def test_order_and_tracking_link_are_one_transaction(
    client: Any, session: Any, unit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.work_orders import service as work_orders

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("database went away")

    # Fails after the order row is flushed, right before create_work_order's commit.
    monkeypatch.setattr(work_orders.sla_hooks, "on_order_created", fail)
    before = counts(session)
    r = client.post(TWIN.format(unit.token), json=VALID_FORM)
    assert r.status_code == 500
    assert counts(session) == before
    monkeypatch.undo()
    ok = client.post(TWIN.format(unit.token), json=VALID_FORM)
    assert ok.status_code == 201 and counts(session)[:2] == (before[0] + 1, before[1] + 1)


def test_every_string_exists_in_both_languages() -> None:
    from server.intake.i18n import MESSAGES, SYMPTOMS

    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])
    assert all(f"symptom.{code}" in MESSAGES["zh"] for code in SYMPTOMS)
    assert all(text.strip() for table in MESSAGES.values() for text in table.values())


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=50),
    st.lists(st.text(max_size=5), max_size=3),
)
_FIELDS = st.sampled_from([*VALID_FORM, "website", "lang", "extra"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.dictionaries(_FIELDS, _JSON_VALUES, max_size=8),
    form=st.dictionaries(_FIELDS, st.text(max_size=300), max_size=8),
)
def test_fuzzed_public_input_never_500(client: Any, unit: Any, body: Any, form: Any) -> None:
    r = client.post(TWIN.format(unit.token), json={**VALID_FORM, **body})
    assert r.status_code in {200, 201, 422}, r.json
    page = submit(client, unit.token, {**VALID_FORM, **form})
    assert page.status_code in {200, 303, 422}, page.get_data(as_text=True)[:300]


def test_links_use_the_public_base_url(app: Any, world: Any, client: Any, unit: Any) -> None:
    app.config["PUBLIC_BASE_URL"] = "https://service.example.com"
    assert world.agent.get(QR.format(unit.equipment.id)).json["url"] == (
        f"https://service.example.com/r/{unit.token}"
    )
    r = client.post(TWIN.format(unit.token), json=VALID_FORM)
    assert r.json["tracking_url"].startswith("https://service.example.com/t/")
    labels = html(
        world.admin.post(
            "/api/v1/equipment/qr-labels", json={"equipment_ids": [str(unit.equipment.id)]}
        )
    )
    assert f"https://service.example.com/r/{unit.token}" in labels
