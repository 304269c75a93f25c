"""Use cases: the device-token registry, and queueing pushes in the causing transaction.

Nothing here talks to FCM. ``enqueue_tickles`` runs inside the sync change log's flush
hook and adds outbox rows to the same flush, so a push exists exactly when the change
that caused it commits; the worker delivers it afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from server.auth.principal import Principal
from server.db import system_scope, utcnow
from server.errors import ValidationFailed
from server.notifications.models import (
    KIND_ASSIGNMENT,
    KIND_SYNC_TICKLE,
    TOKEN_MAX_LENGTH,
    DeviceToken,
    NotificationOutbox,
)
from server.schemas import storable_text_error
from server.sync.models import SyncChange, SyncScopeExit
from server.technicians.models import Technician
from server.work_orders.models import WorkOrder, WorkOrderHelper
from workflow.lifecycle import OPEN

# Registration tokens are URL-safe base64 with ':' separators; allow the base64 extras too.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_:.+/=-]+$")
# Which users this transaction already has a pending push for (see _queued).
_QUEUED_KEY = "notifications.queued"
SKIP_SCOPE = {"skip_tenant_scope": True}
OPEN_STATUSES = frozenset(status.value for status in OPEN)
# Synced tables whose changes wake the technicians of the order they belong to. Catalog,
# customer and site edits reach devices on their next sync without a tickle.
ORDER_TABLES = frozenset(
    (
        "work_orders",
        "work_order_notes",
        "status_events",
        "check_ins",
        "work_order_photos",
        "part_usages",
    )
)


# --- device-token registry ----------------------------------------------------------


def token_problem(token: str) -> str | None:
    """Why a string cannot be an FCM registration token, or None."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return f"Must be 1 to {TOKEN_MAX_LENGTH} characters."
    if storable_text_error(token) or not TOKEN_PATTERN.match(token):
        return "Not an FCM registration token."
    return None


def _check_token(token: str) -> None:
    problem = token_problem(token)
    if problem:
        raise ValidationFailed(
            "Invalid device token.", code="invalid_device_token", errors={"token": [problem]}
        )


def list_tokens(*, db_session: Session, principal: Principal) -> list[DeviceToken]:
    """The caller's active tokens, most recently seen first."""
    stmt = (
        select(DeviceToken)
        .where(DeviceToken.user_id == principal.user_id, DeviceToken.revoked_at.is_(None))
        .order_by(DeviceToken.last_seen_at.desc(), DeviceToken.id)
    )
    return list(db_session.scalars(stmt))


def _register(db_session: Session, principal: Principal, data: dict[str, Any]) -> DeviceToken:
    now = utcnow()
    # The token names one app install: whoever registered it before (another user, even
    # another tenant) signed out or reinstalled, so it moves to the caller.
    with system_scope(db_session):
        row = db_session.scalar(select(DeviceToken).where(DeviceToken.token == data["token"]))
    if row is None:
        row = DeviceToken(token=data["token"], created_at=now)
        db_session.add(row)
    elif row.user_id != principal.user_id or row.tenant_id != principal.tenant_id:
        row.created_at = now
    row.tenant_id = principal.tenant_id
    row.user_id = principal.user_id
    row.platform = data["platform"]
    row.app_version = data.get("app_version")
    row.device_id = data.get("device_id")
    row.last_seen_at = now
    row.revoked_at = None
    if row.device_id:
        # FCM rotated this install's token: the old one will only bounce.
        stale = select(DeviceToken).where(
            DeviceToken.user_id == principal.user_id,
            DeviceToken.device_id == row.device_id,
            DeviceToken.token != row.token,
            DeviceToken.revoked_at.is_(None),
        )
        for old in db_session.scalars(stale):
            old.revoked_at = now
    db_session.commit()
    return row


def register_token(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> DeviceToken:
    """Register or refresh the caller's token (idempotent); moves it from any other user."""
    _check_token(data["token"])
    try:
        return _register(db_session, principal, data)
    except IntegrityError:
        # A concurrent first registration of the same token won the insert: update it.
        db_session.rollback()
        return _register(db_session, principal, data)


def forget_token(*, db_session: Session, principal: Principal, token: str) -> None:
    """Delete the caller's token; someone else's or an unknown token is left alone."""
    _check_token(token)
    row = db_session.scalar(
        select(DeviceToken).where(
            DeviceToken.token == token, DeviceToken.user_id == principal.user_id
        )
    )
    if row is not None:
        db_session.delete(row)
        db_session.commit()


# --- outbox: queued in the causing flush ----------------------------------------------


def _queued(session: Session) -> set[tuple[Any, ...]]:
    """Pushes already queued in this transaction, so a burst of flushes queues one each."""
    queued: set[tuple[Any, ...]] = session.info.setdefault(_QUEUED_KEY, set())
    return queued


@event.listens_for(Session, "after_transaction_end")
def _forget_queued(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_QUEUED_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_queued_on_rollback(session: Session, previous_transaction: Any) -> None:
    # A rolled-back savepoint may have taken queued rows with it: queue again if needed.
    session.info.pop(_QUEUED_KEY, None)


def _pending_objects(session: Session) -> dict[uuid.UUID, Any]:
    found: dict[uuid.UUID, Any] = {}
    for obj in chain(session.new, session.dirty, session.deleted):
        ident = obj.__dict__.get("id")
        if isinstance(ident, uuid.UUID):
            found[ident] = obj
    return found


def _order_people(
    session: Session, order_ids: Iterable[uuid.UUID], pending: dict[uuid.UUID, Any]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Lead and helpers of each order, as this flush will leave them."""
    people: dict[uuid.UUID, set[uuid.UUID]] = {}
    unknown = []
    for order_id in set(order_ids):
        order = pending.get(order_id)
        if isinstance(order, WorkOrder):
            techs = {h.technician_id for h in order.helpers}
            if order.lead_technician_id:
                techs.add(order.lead_technician_id)
            people[order_id] = techs
        else:
            unknown.append(order_id)
    if unknown:
        # Not loaded (a note added by id, a touched row): ask the database, whose tenant is
        # the change's own; the ids are UUIDs, so no other tenant's row can match.
        for order_id in unknown:
            people[order_id] = set()
        rows = session.execute(
            select(WorkOrder.id, WorkOrder.lead_technician_id).where(WorkOrder.id.in_(unknown)),
            execution_options=SKIP_SCOPE,
        )
        for order_id, lead in rows:
            if lead:
                people[order_id].add(lead)
        helpers = session.execute(
            select(WorkOrderHelper.work_order_id, WorkOrderHelper.technician_id).where(
                WorkOrderHelper.work_order_id.in_(unknown)
            ),
            execution_options=SKIP_SCOPE,
        )
        for order_id, tech in helpers:
            people[order_id].add(tech)
    return people


def _technician_users(
    session: Session, tech_ids: set[uuid.UUID], pending: dict[uuid.UUID, Any]
) -> dict[uuid.UUID, uuid.UUID]:
    """The signed-in user of each technician (technicians without an account are skipped)."""
    users: dict[uuid.UUID, uuid.UUID] = {}
    unknown = []
    for tech_id in tech_ids:
        tech = pending.get(tech_id)
        if isinstance(tech, Technician):
            if tech.user_id:
                users[tech_id] = tech.user_id
        else:
            unknown.append(tech_id)
    if unknown:
        rows = session.execute(
            select(Technician.id, Technician.user_id).where(
                Technician.id.in_(unknown), Technician.user_id.is_not(None)
            ),
            execution_options=SKIP_SCOPE,
        )
        users.update({tech_id: user_id for tech_id, user_id in rows if user_id})
    return users


def _order_summary(
    session: Session, order_id: uuid.UUID, pending: dict[uuid.UUID, Any]
) -> tuple[str, str, str]:
    order = pending.get(order_id)
    if isinstance(order, WorkOrder):
        return order.number, order.title, order.status
    row = session.execute(
        select(WorkOrder.number, WorkOrder.title, WorkOrder.status).where(WorkOrder.id == order_id),
        execution_options=SKIP_SCOPE,
    ).first()
    return (row[0], row[1], row[2]) if row else ("", "", "")


def assignment_payload(*, order_id: uuid.UUID, number: str, title: str) -> dict[str, Any]:
    """The user-visible notice for a newly assigned order (FCM data values are strings)."""
    return {
        "title": f"New work order {number}".strip(),
        "body": title,
        "data": {"type": "assignment", "work_order_id": str(order_id), "number": number},
    }


def enqueue_tickles(session: Session, records: Sequence[Any]) -> None:
    """Queue, in this flush, one sync tickle per affected technician's user and a notice
    per new assignment; ``records`` are the SyncChange/SyncScopeExit rows just logged."""
    moves = [r for r in records if isinstance(r, SyncScopeExit)]
    changes = [r for r in records if isinstance(r, SyncChange) and r.table_name in ORDER_TABLES]
    if not moves and not changes:
        return
    pending = _pending_objects(session)
    # Which orders each change concerns: the order itself or the order of a child row.
    change_orders: list[tuple[SyncChange, uuid.UUID]] = []
    for change in changes:
        if change.table_name == "work_orders":
            change_orders.append((change, change.row_id))
            continue
        order_id = getattr(pending.get(change.row_id), "work_order_id", None)
        if isinstance(order_id, uuid.UUID):
            change_orders.append((change, order_id))
    people = _order_people(session, (o for _, o in change_orders), pending)

    # technician -> (tenant, origin devices of the changes that concern them)
    origins: dict[uuid.UUID, set[str | None]] = defaultdict(set)
    tenants: dict[uuid.UUID, uuid.UUID] = {}
    for move in moves:
        origins[move.technician_id].add(None)
        tenants[move.technician_id] = move.tenant_id
    for change, order_id in change_orders:
        for tech in people.get(order_id, ()):
            origins[tech].add(change.origin_device)
            tenants[tech] = change.tenant_id
    if not origins:
        return
    users = _technician_users(session, set(origins), pending)
    queued = _queued(session)
    rows: list[NotificationOutbox] = []

    by_user: dict[uuid.UUID, tuple[uuid.UUID, set[str | None]]] = {}
    for tech, devices in origins.items():
        user_id = users.get(tech)
        if user_id is None:
            continue
        tenant_id, seen = by_user.get(user_id, (tenants[tech], set()))
        by_user[user_id] = (tenant_id, seen | devices)
    for user_id, (tenant_id, devices) in by_user.items():
        # A change pushed by one device need not wake that device: name it so the worker
        # skips it; any other cause (office edit, other device) wakes every device.
        origin = next(iter(devices)) if len(devices) == 1 else None
        if {(user_id, KIND_SYNC_TICKLE, None), (user_id, KIND_SYNC_TICKLE, origin)} & queued:
            continue  # this transaction already wakes these devices
        queued.add((user_id, KIND_SYNC_TICKLE, origin))
        payload: dict[str, Any] = {"type": "sync"}
        if origin is not None:
            payload["origin_device"] = origin
        rows.append(
            NotificationOutbox(
                tenant_id=tenant_id,
                user_id=user_id,
                kind=KIND_SYNC_TICKLE,
                payload=payload,
                collapse_key=f"sync-{user_id}",
            )
        )

    for move in moves:
        user_id = users.get(move.technician_id)
        key = (user_id, KIND_ASSIGNMENT, move.work_order_id)
        if not move.entered or user_id is None or key in queued:
            continue
        queued.add(key)
        number, title, status = _order_summary(session, move.work_order_id, pending)
        if status not in OPEN_STATUSES:
            continue  # finished or cancelled work (history, imports) is no news to anyone
        rows.append(
            NotificationOutbox(
                tenant_id=move.tenant_id,
                user_id=user_id,
                kind=KIND_ASSIGNMENT,
                payload=assignment_payload(order_id=move.work_order_id, number=number, title=title),
                collapse_key=f"assignment-{move.work_order_id}",
            )
        )
    session.add_all(rows)
