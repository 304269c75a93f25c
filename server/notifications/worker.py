"""Deliver the notification outbox after commit: claim due rows, send, record outcomes;
prune finished rows after a retention period.

Claiming is its own short transaction: each picked row gets ``attempts + 1`` and a
``next_attempt_at`` one backoff step ahead, which doubles as a lease. No transaction is
held while FCM is called; if the worker dies mid-send, the rows come back when the lease
runs out (delivery is at least once; tickles are idempotent and visible notices share a
collapse id/tag, so a repeat replaces the one on screen). On PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED``, so several workers share the queue without double sends.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session

from server.auth.models import User
from server.db import system_scope, utcnow
from server.notifications.models import KIND_ASSIGNMENT, DeviceToken, NotificationOutbox
from server.notifications.sender import Outcome, Push, Sender, SendResult

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
ERROR_MAX_LENGTH = 2000
PRUNE_BATCH_SIZE = 1000


@dataclass
class DeliveryReport:
    """What one pass of the worker did."""

    picked: int = 0
    sent: int = 0
    retrying: int = 0
    gave_up: int = 0
    pushes: int = 0
    revoked_tokens: int = 0


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    kind: str
    payload: dict[str, Any]
    collapse_key: str | None
    attempts: int
    tokens: tuple[tuple[uuid.UUID, str, str | None], ...]  # (id, token, device_id)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` tries: 30 s doubling, at most an hour."""
    doublings = min(max(attempts - 1, 0), 20)
    return min(BACKOFF_BASE * (1 << doublings), BACKOFF_CAP)


def _claim(db_session: Session, now: dt.datetime, limit: int) -> list[_Claimed]:
    stmt = (
        select(NotificationOutbox)
        .where(
            NotificationOutbox.sent_at.is_(None),
            NotificationOutbox.next_attempt_at.is_not(None),
            NotificationOutbox.next_attempt_at <= now,
        )
        .order_by(NotificationOutbox.next_attempt_at, NotificationOutbox.id)
        .limit(limit)
    )
    if db_session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(db_session.scalars(stmt))
    if not rows:
        db_session.commit()
        return []
    tokens: dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None]]] = defaultdict(list)
    active = (
        select(DeviceToken.user_id, DeviceToken.id, DeviceToken.token, DeviceToken.device_id)
        .join(User, User.id == DeviceToken.user_id)
        .where(
            DeviceToken.user_id.in_({r.user_id for r in rows}),
            DeviceToken.revoked_at.is_(None),
            User.is_active.is_(True),
        )
        .order_by(DeviceToken.created_at, DeviceToken.id)
    )
    for user_id, token_id, token, device_id in db_session.execute(active):
        tokens[user_id].append((token_id, token, device_id))
    claimed = []
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = now + backoff(row.attempts)
        claimed.append(
            _Claimed(
                row_id=row.id,
                kind=row.kind,
                payload=dict(row.payload or {}),
                collapse_key=row.collapse_key,
                attempts=row.attempts,
                tokens=tuple(tokens.get(row.user_id, ())),
            )
        )
    db_session.commit()
    return claimed


def _content(
    kind: str, payload: Mapping[str, Any]
) -> tuple[dict[str, str], str | None, str | None]:
    """FCM data, title and body of an outbox payload.

    Assignments carry their data apart; other kinds are their data, and show a notice when
    they name a title (SLA warnings, mentions) or stay silent (sync tickles).
    """
    if kind == KIND_ASSIGNMENT:
        data = payload.get("data") or {}
        return {k: str(v) for k, v in data.items()}, payload.get("title"), payload.get("body")
    data = {k: str(v) for k, v in payload.items() if v is not None}
    return data, payload.get("title"), payload.get("body")


def _pushes(item: _Claimed) -> list[tuple[uuid.UUID, Push]]:
    data, title, body = _content(item.kind, item.payload)
    skip_device = item.payload.get("origin_device")
    return [
        (token_id, Push(token, data, item.collapse_key, title, body))
        for token_id, token, device_id in item.tokens
        if skip_device is None or device_id != skip_device
    ]


def deliver_pending(
    db_session: Session,
    sender: Sender,
    *,
    now: dt.datetime | None = None,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Send due outbox rows of every tenant to each active token of their user."""
    now = now or utcnow()
    report = DeliveryReport()
    with system_scope(db_session):
        claimed = _claim(db_session, now, limit)
        report.picked = len(claimed)
        if not claimed:
            return report
        plan = [(item, _pushes(item)) for item in claimed]
        flat = [push for _, pushes in plan for _, push in pushes]
        try:
            results = sender.send(flat) if flat else []
        except Exception as exc:  # a sender bug must not lose rows: they retry later
            log.exception("notification sender failed")
            results = [SendResult(p.token, Outcome.FAILED, str(exc)) for p in flat]
        report.pushes = len(flat)
        outcomes = iter(results)
        dead: set[uuid.UUID] = set()
        for item, pushes in plan:
            errors = []
            for token_id, _push in pushes:
                result = next(outcomes)
                if result.outcome is Outcome.TOKEN_INVALID:
                    dead.add(token_id)
                elif result.outcome is Outcome.FAILED:
                    errors.append(result.error or "send failed")
            row = db_session.get(NotificationOutbox, item.row_id)
            if row is None:  # its user was deleted meanwhile
                continue
            if not errors:
                row.sent_at = now
                row.next_attempt_at = None
                row.last_error = None
                report.sent += 1
                continue
            row.last_error = "; ".join(errors)[:ERROR_MAX_LENGTH]
            if item.attempts >= max_attempts:
                row.next_attempt_at = None  # give up; last_error says why
                report.gave_up += 1
            else:
                report.retrying += 1  # next_attempt_at was set to the backoff when claimed
        if dead:
            for token in db_session.scalars(select(DeviceToken).where(DeviceToken.id.in_(dead))):
                if token.revoked_at is None:
                    token.revoked_at = now
                    report.revoked_tokens += 1
        db_session.commit()
    return report


def _finished_before(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Delivered before the cutoff, or given up on and created before it.

    A given-up row records no time of giving up; its creation time is a lower bound (the
    default backoff schedule ends about an hour after it), close enough for days.
    """
    row = NotificationOutbox
    return or_(
        and_(row.sent_at.is_not(None), row.sent_at < cutoff),
        and_(row.sent_at.is_(None), row.next_attempt_at.is_(None), row.created_at < cutoff),
    )


def prune_outbox(
    *, db_session: Session, older_than: dt.datetime, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete finished (sent or given-up) outbox rows of every tenant; returns the count.

    Pending and retrying rows (``next_attempt_at`` set, not sent) are never touched. Rows
    go in batches of ``batch_size``, one short transaction each, so pruning a large outbox
    neither holds one huge transaction nor blocks the delivery worker for long.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    finished = _finished_before(older_than)
    total = 0
    last_id = 0
    with system_scope(db_session):
        while True:
            # Walking the primary key keeps each batch an index range scan; rows skipped
            # because they are still pending are never looked at again.
            ids = list(
                db_session.scalars(
                    select(NotificationOutbox.id)
                    .where(NotificationOutbox.id > last_id, finished)
                    .order_by(NotificationOutbox.id)
                    .limit(batch_size)
                )
            )
            if not ids:
                db_session.commit()
                return total
            # The condition is repeated: a row must still be finished when it is deleted.
            result = db_session.execute(
                delete(NotificationOutbox)
                .where(NotificationOutbox.id.in_(ids), finished)
                .execution_options(synchronize_session=False)
            )
            db_session.commit()
            total += int(getattr(result, "rowcount", 0) or 0)
            last_id = ids[-1]
