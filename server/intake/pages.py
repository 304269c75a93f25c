"""Public (no login) HTML pages: plain Flask blueprints outside /api/v1.

/r/<token> is what an equipment QR code opens (the repair form); /t/<token> is the
tracking link a customer gets after submitting. Every page is rendered by Jinja with
autoescaping, carries a strict Content-Security-Policy with a per-response script nonce,
and never sends the token-bearing URL to other sites (Referrer-Policy: no-referrer).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from server.db import db
from server.errors import DomainError
from server.intake import ratelimit, service, web
from server.intake.i18n import SYMPTOMS, choose_language, translate

pages = Blueprint("intake_pages", __name__, template_folder="templates")

DONE_KEYS = {
    "received": "received_text",
    "duplicate": "duplicate_text",
    "info": "info_added",
    "cancelled": "cancelled_done",
}


def _lang() -> str:
    # Only the query string: reading the form here could re-raise a 413 in error pages.
    return choose_language(request.args.get("lang"), request.accept_languages)


def _switch_url(other: str) -> str | None:
    """The same page in the other language (POST-only routes switch to the tracking page)."""
    token = (request.view_args or {}).get("token")
    if not token:
        return None
    endpoint = "intake_pages.repair" if request.endpoint == "intake_pages.repair" else None
    return url_for(endpoint or "intake_pages.tracking", token=token, lang=other)


def _render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page in the caller's language, with security headers."""
    lang = _lang()
    nonce = g.get("csp_nonce") or secrets.token_urlsafe(16)
    g.csp_nonce = nonce
    other = "zh" if lang == "en" else "en"

    def t(key: str, **params: Any) -> str:
        return translate(lang, key, **params)

    html = render_template(
        template,
        lang=lang,
        t=t,
        nonce=nonce,
        switch_url=_switch_url(other),
        **context,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(title_key: str, text_key: str, status: int, code: str, **params: Any) -> Response:
    """A friendly one-message page; the machine-readable code rides in X-Error-Code."""
    response = _render(
        "intake/message.html", status=status, title_key=title_key, text_key=text_key, params=params
    )
    if status >= 400:
        response.headers["X-Error-Code"] = code
    return response


@pages.before_request
def _limit_views() -> None:
    ratelimit.enforce_views()
    if request.method == "POST":
        token = (request.view_args or {}).get("token", "")
        ratelimit.enforce_writes(token)
        web.allow_large_body()


@pages.errorhandler(ratelimit.RateLimited)
def _rate_limited(exc: ratelimit.RateLimited) -> Response:
    response = _message("too_many_title", "too_many_text", 429, exc.code, seconds=exc.retry_after)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@pages.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    if exc.status == 404:
        return _message("not_found_title", "not_found_text", 404, exc.code)
    return _message("bad_request_title", "bad_request_text", exc.status, exc.code)


@pages.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 400
    if status == 413:
        return _message("too_large_title", "too_large_text", 413, "payload_too_large")
    if status == 404:
        return _message("not_found_title", "not_found_text", 404, "not_found")
    return _message("bad_request_title", "bad_request_text", status, "bad_request")


def _repair_page(
    target: service.QrTarget,
    form: dict[str, str],
    problems: dict[str, Any],
    status: int,
    code: str,
) -> Response:
    response = _render(
        "intake/repair.html",
        status=status,
        target=target,
        form=form,
        problems=problems,
        symptoms=SYMPTOMS,
        max_photos=web.photo_limits()["max_photos"],
        max_mb=web.photo_limits()["max_bytes"] // (1024 * 1024),
    )
    if code:
        response.headers["X-Error-Code"] = code
    return response


@pages.route("/r/<token>", methods=["GET", "POST"])
def repair(token: str) -> Response:
    """The repair form a QR code opens; POST files the request and redirects to tracking."""
    session = db.session()
    target = service.resolve_qr(db_session=session, token=token)
    if request.method == "GET":
        return _repair_page(target, service.normalise_form({}), {}, 200, "")
    form = service.normalise_form(request.form.to_dict())
    lang = _lang()
    if form["website"]:
        # A bot filled the hidden field: look successful, store nothing, give no link.
        return _message("received_title", "received_text", 200, "")
    problems = service.request_problems(form)
    if problems:
        return _repair_page(target, form, problems, 422, "invalid_request")
    try:
        photos = service.prepare_photos(web.photo_streams(), **web.photo_limits())
    except service.PhotoRejected as exc:
        return _repair_page(target, form, {"photos": (exc.key, exc.params)}, exc.status, exc.code)
    submission = service.submit_request(
        db_session=session,
        target=target,
        data=form,
        photos=photos,
        storage=web.blob_storage(),
        source="qr",
        locale=lang,
        duplicate_window=web.duplicate_window(),
    )
    done = "duplicate" if submission.duplicate else "received"
    return redirect(  # type: ignore[return-value]
        url_for("intake_pages.tracking", token=submission.tracking_token, lang=lang, done=done),
        code=303,
    )


def _tracking_page(
    token: str,
    tracked: service.Tracked,
    status: int = 200,
    error: tuple[str, dict[str, Any]] | None = None,
    code: str = "",
) -> Response:
    lang = _lang()
    view = service.tracking_view(
        db_session=db.session(), tracked=tracked, lang=lang, travel=web.travel_provider()
    )
    done = request.args.get("done")
    response = _render(
        "intake/tracking.html",
        status=status,
        token=token,
        view=view,
        done_key=DONE_KEYS.get(done or ""),
        show_link=done in {"received", "duplicate"},
        link=service.tracking_url(web.base_url(), token),
        error=error,
        poll_seconds=max(1, int(current_app.config["INTAKE_POLL_SECONDS"])),
        status_url=url_for("public_intake.public_tracking", token=token, lang=lang),
        live_url=url_for("intake_pages.tracking_live", token=token, lang=lang),
        max_mb=web.photo_limits()["max_bytes"] // (1024 * 1024),
    )
    if code:
        response.headers["X-Error-Code"] = code
    return response


@pages.route("/t/<token>")
def tracking(token: str) -> Response:
    """The tracking page: status in plain words, visit, engineer, messages, actions."""
    tracked = service.resolve_tracking(db_session=db.session(), token=token)
    return _tracking_page(token, tracked)


@pages.route("/t/<token>/live")
def tracking_live(token: str) -> Response:
    """The live part of the tracking page, re-fetched by its script when it changed."""
    session = db.session()
    tracked = service.resolve_tracking(db_session=session, token=token)
    view = service.tracking_view(
        db_session=session, tracked=tracked, lang=_lang(), travel=web.travel_provider()
    )
    return _render("intake/_live.html", view=view)


@pages.route("/t/<token>/cancel", methods=["POST"])
def tracking_cancel(token: str) -> Response:
    """Cancel the request (only before the engineer is on the way)."""
    session = db.session()
    tracked = service.resolve_tracking(db_session=session, token=token)
    try:
        service.cancel_request(
            db_session=session, tracked=tracked, reason=(request.form.get("reason") or "").strip()
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        tracked = service.resolve_tracking(db_session=session, token=token)
        key = "cannot_cancel" if exc.code == "cannot_cancel" else "fix_errors"
        return _tracking_page(token, tracked, exc.status, (key, {}), exc.code)
    return redirect(  # type: ignore[return-value]
        url_for("intake_pages.tracking", token=token, lang=_lang(), done="cancelled"), code=303
    )


@pages.route("/t/<token>/info", methods=["POST"])
def tracking_info(token: str) -> Response:
    """Add information (a message, optionally a photo) to the request."""
    session = db.session()
    tracked = service.resolve_tracking(db_session=session, token=token)
    try:
        photos = service.prepare_photos(web.photo_streams(), **web.photo_limits())
        service.add_information(
            db_session=session,
            tracked=tracked,
            body=(request.form.get("body") or "").strip(),
            photos=photos,
            storage=web.blob_storage(),
        )
    except service.PhotoRejected as exc:
        return _tracking_page(token, tracked, exc.status, (exc.key, exc.params), exc.code)
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        tracked = service.resolve_tracking(db_session=session, token=token)
        key = "closed_no_info" if exc.code == "order_closed" else "fix_errors"
        return _tracking_page(token, tracked, exc.status, (key, {}), exc.code)
    return redirect(  # type: ignore[return-value]
        url_for("intake_pages.tracking", token=token, lang=_lang(), done="info"), code=303
    )


@pages.route("/r/", methods=["GET", "POST"])
@pages.route("/t/", methods=["GET", "POST"])
@pages.route("/r/<path:rest>", methods=["GET", "POST"])
@pages.route("/t/<path:rest>", methods=["GET", "POST"])
def mangled_link(rest: str = "") -> Response:
    """A cut-off or mangled link (scanners and mail clients do that): the friendly 404."""
    return _message("not_found_title", "not_found_text", 404, "not_found")


PAGES: list[Blueprint] = [pages]
