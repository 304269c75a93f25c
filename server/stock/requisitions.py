"""Requisitions, reservations and returns: how parts get from a warehouse into a van.

A requisition moves through::

    requested --approve--> approved --ship--> in_transit --receive--> partially_received
        |                     |                                  \\--> received
        +--reject--> rejected  +--cancel--> cancelled (nothing shipped yet)
        +--cancel--> cancelled

Small requests (value below the tenant's limit) are approved on creation. Approval
reserves the approved quantities at the warehouse (``StockBalance.reserved``, so
available = on hand - reserved never goes below zero); shipping posts warehouse -> transit
and turns the reservation into use; receiving posts transit -> van.

Reservations and requisitions without a work order: ``Reservation.work_order_id`` is
NOT NULL, so a van-restock requisition holds its stock on the balance only and the line
(approved - shipped) is the record of the hold; ``reservation_mismatches`` checks both.

Every use case is one transaction: on any error nothing it wrote survives (a posting
that failed on line 2 takes line 1's posting with it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, false, func, literal, select, update
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.parts.models import Part
from server.stock import service
from server.stock.models import (
    TRANSIT,
    VAN,
    WAREHOUSE,
    Requisition,
    RequisitionLine,
    Reservation,
    SerialUnit,
    StockBalance,
    StockLocation,
    StockMovement,
)
from server.technicians.models import Technician
from server.work_orders.models import WorkOrder
from server.work_orders.scope import assigned_to
from workflow.lifecycle import OPEN

REQUESTED, APPROVED, REJECTED = "requested", "approved", "rejected"
IN_TRANSIT, PARTIALLY_RECEIVED, RECEIVED = "in_transit", "partially_received", "received"
CANCELLED = "cancelled"
# While stock is reserved for the requisition (approved and not yet all shipped).
HOLDING = frozenset({APPROVED, IN_TRANSIT, PARTIALLY_RECEIVED})
SHIPPABLE = HOLDING
RECEIVABLE = frozenset({IN_TRANSIT, PARTIALLY_RECEIVED})
ACTIVE, RELEASED, USED = "active", "released", "used"
RESERVABLE_KINDS = frozenset({WAREHOUSE, VAN})

PREFIX = "REQ-"
ZERO = Decimal("0")
CENT = Decimal("0.01")
SCALE = service.SCALE
# Half a thousandth, not zero: SQLite keeps NUMERIC as floating point.
MAX_VALUE = Decimal("1e12")  # Numeric(14, 2): twelve digits before the point
# First key of the advisory lock that serialises numbering per tenant on PostgreSQL.
NUMBER_LOCK = 0x52455131  # "REQ1"


@dataclass
class RequisitionDetail:
    """A requisition with its lines, read by the response schema like the row itself."""

    requisition: Requisition
    lines: list[RequisitionLine]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.requisition, name)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(SCALE)


def _approved_quantity(value: Any, requested: Decimal, part_id: uuid.UUID) -> Decimal:
    """Zero (approve none) or a quantity no larger than requested."""
    number = Decimal(str(value))
    if number == 0:
        return ZERO
    if number < 0:
        raise ValidationFailed(
            "approved_quantity must not be negative.", code="invalid_quantity", part_id=str(part_id)
        )
    q = service.quantity_of(number)
    if q > requested:
        raise ValidationFailed(
            f"approved_quantity {q} exceeds the {requested} requested.",
            code="exceeds_requested",
            part_id=str(part_id),
        )
    return q


def _invalid_transition(requisition: Requisition, action: str) -> Conflict:
    return Conflict(
        f"A {requisition.status} requisition cannot be {action}.",
        code="invalid_transition",
        current_status=requisition.status,
    )


# --- lookups -----------------------------------------------------------------------------


def _part(db_session: Session, part_id: uuid.UUID, field: str = "part_id") -> Part:
    part = db_session.get(Part, part_id)
    if part is None:
        raise service.unknown_reference(field, f"No part with id {part_id}.", "unknown_part")
    return part


def _warehouse(db_session: Session, location_id: uuid.UUID, field: str) -> StockLocation:
    found = db_session.get(StockLocation, location_id)
    if found is None:
        raise service.unknown_reference(
            field, f"No stock location with id {location_id}.", "unknown_location"
        )
    if found.kind != WAREHOUSE:
        raise ValidationFailed(
            f"{found.code} is a {found.kind}, not a warehouse.",
            code="not_a_warehouse",
            errors={"json": {field: ["Not a warehouse."]}},
        )
    if not found.active:
        raise Conflict(f"Location {found.code} is inactive.", code="location_inactive")
    return found


def _technician(
    db_session: Session, principal: Principal, technician_id: uuid.UUID | None
) -> Technician:
    """Technicians act for themselves; the office names the technician."""
    if principal.is_technician:
        if principal.technician_id is None:
            raise Forbidden("Your account is not linked to a technician.", code="no_technician")
        if technician_id is not None and technician_id != principal.technician_id:
            raise Forbidden("Technicians act only for themselves.", code="other_technician")
        technician_id = principal.technician_id
    if technician_id is None:
        raise ValidationFailed(
            "technician_id is required when the office files for a technician.",
            code="technician_required",
            errors={"json": {"technician_id": ["Required."]}},
        )
    technician = db_session.get(Technician, technician_id)
    if technician is None:
        raise service.unknown_reference(
            "technician_id", f"No technician with id {technician_id}.", "unknown_technician"
        )
    if not technician.active:
        raise ValidationFailed(f"{technician.name} is inactive.", code="technician_inactive")
    return technician


def _work_order(
    db_session: Session,
    principal: Principal,
    work_order_id: uuid.UUID,
    *,
    technician_id: uuid.UUID | None,
) -> WorkOrder:
    """An open order; a technician's own (lead or helper) when a technician asks."""
    stmt = select(WorkOrder).where(WorkOrder.id == work_order_id)
    if principal.is_technician:
        stmt = stmt.where(assigned_to(technician_id))
    order = db_session.scalar(stmt)
    if order is None:
        raise service.unknown_reference(
            "work_order_id", f"No work order with id {work_order_id}.", "unknown_work_order"
        )
    if order.status not in OPEN:
        raise Conflict(
            f"Work order {order.number} is {order.status}.",
            code="work_order_closed",
            current_status=order.status,
        )
    return order


def _load(
    db_session: Session, principal: Principal, requisition_id: uuid.UUID, *, lock: bool
) -> Requisition:
    """One requisition the caller may see (technicians: their own), locked for a change."""
    stmt = select(Requisition).where(Requisition.id == requisition_id)
    if principal.is_technician:
        mine = (
            Requisition.technician_id == principal.technician_id
            if principal.technician_id is not None
            else false()
        )
        stmt = stmt.where(mine)
    if lock:
        # Two approvers (or an approver and a canceller) at once: the second sees the first.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = db_session.scalar(stmt)
    if found is None:
        raise NotFound(f"No requisition with id {requisition_id}.")
    return found


def _lines(db_session: Session, requisition: Requisition) -> list[RequisitionLine]:
    stmt = (
        select(RequisitionLine)
        .where(RequisitionLine.requisition_id == requisition.id)
        .order_by(RequisitionLine.id)
        .execution_options(populate_existing=True)
    )
    return list(db_session.scalars(stmt))


def _line_for(lines: Sequence[RequisitionLine], part_id: uuid.UUID) -> RequisitionLine:
    for line in lines:
        if line.part_id == part_id:
            return line
    raise ValidationFailed(
        f"Part {part_id} is not on this requisition.",
        code="not_on_requisition",
        part_id=str(part_id),
    )


def _next_number(db_session: Session) -> str:
    """REQ-000001, REQ-000002... per tenant, unique under concurrent requests.

    PostgreSQL: a transaction-scoped advisory lock per tenant, so the second requester
    reads the max only after the first committed. SQLite: BEGIN IMMEDIATE already
    serialises writers. The unique (tenant, number) constraint backs both.
    """
    if db_session.get_bind().dialect.name == "postgresql":
        tenant = db_session.info.get("tenant_id")
        db_session.execute(
            select(func.pg_advisory_xact_lock(literal(NUMBER_LOCK), func.hashtext(str(tenant))))
        )
    last = db_session.scalar(
        select(Requisition.number)
        .order_by(func.length(Requisition.number).desc(), Requisition.number.desc())
        .limit(1)
    )
    value = int(last[len(PREFIX) :]) if last and last[len(PREFIX) :].isdigit() else 0
    return f"{PREFIX}{value + 1:06d}"


# --- balances: reserved ------------------------------------------------------------------


def _hold(db_session: Session, location: StockLocation, part: Part, quantity: Decimal) -> None:
    """reserved += quantity, only while available (on hand - reserved) stays >= 0.

    One conditional UPDATE: on PostgreSQL a concurrent reserver of the last unit blocks on
    the row and re-checks the condition, so only one of them gets it.
    """
    stmt = (
        update(StockBalance)
        .where(
            StockBalance.location_id == location.id,
            StockBalance.part_id == part.id,
            StockBalance.on_hand - StockBalance.reserved - quantity > -service.HALF_UNIT,
        )
        .values(reserved=StockBalance.reserved + quantity, updated_at=utcnow())
        .returning(StockBalance.id)
        .execution_options(synchronize_session=False)
    )
    if db_session.execute(stmt).scalar_one_or_none() is not None:
        return
    row = db_session.execute(
        select(StockBalance.on_hand, StockBalance.reserved).where(
            StockBalance.location_id == location.id, StockBalance.part_id == part.id
        )
    ).first()
    available = _dec(row[0]) - _dec(row[1]) if row is not None else ZERO
    raise Conflict(
        f"{location.code} has {available} of {part.sku} available; {quantity} requested.",
        code="insufficient_stock",
        available=str(available),
        requested=str(quantity),
        part_id=str(part.id),
    )


def _unhold(db_session: Session, location_id: uuid.UUID, part_id: uuid.UUID, q: Decimal) -> None:
    """reserved -= q (what a shipment used or a release gave back)."""
    stmt = (
        update(StockBalance)
        .where(
            StockBalance.location_id == location_id,
            StockBalance.part_id == part_id,
            StockBalance.reserved - q > -service.HALF_UNIT,
        )
        .values(reserved=StockBalance.reserved - q, updated_at=utcnow())
        .returning(StockBalance.id)
        .execution_options(synchronize_session=False)
    )
    if db_session.execute(stmt).scalar_one_or_none() is None:
        # Only possible if someone edited reserved behind the ledger's back.
        raise Conflict(
            "The balance holds less reserved stock than this releases.",
            code="reservation_mismatch",
        )


def _active_reservation(
    db_session: Session, requisition: Requisition, part_id: uuid.UUID
) -> Reservation | None:
    return db_session.scalar(
        select(Reservation).where(
            Reservation.requisition_id == requisition.id,
            Reservation.part_id == part_id,
            Reservation.status == ACTIVE,
        )
    )


def _mark_used(db_session: Session, held: Reservation, q: Decimal) -> None:
    """``q`` of the hold was used: that much becomes a used row, the rest stays held."""
    rest = _dec(held.quantity) - q
    held.quantity, held.status, held.closed_at = q, USED, utcnow()
    if rest > 0:
        # Split, so each row says what happened to its units: used here, still held there.
        db_session.add(
            Reservation(
                work_order_id=held.work_order_id,
                location_id=held.location_id,
                part_id=held.part_id,
                quantity=rest,
                status=ACTIVE,
                requisition_id=held.requisition_id,
            )
        )


def _use(db_session: Session, requisition: Requisition, part_id: uuid.UUID, q: Decimal) -> None:
    """A shipment used ``q`` of the line's reservation: that much becomes a used row."""
    held = _active_reservation(db_session, requisition, part_id)
    if held is None:
        return  # a van restock: the line is the record of the hold
    _mark_used(db_session, held, q)


def consume_reserved(
    db_session: Session,
    *,
    work_order_id: uuid.UUID,
    location_id: uuid.UUID,
    part_id: uuid.UUID,
    quantity: Decimal,
) -> Decimal:
    """Parts used on a job come out of what was held for that job there first.

    Returns how much of ``quantity`` was reserved (and is now marked used).
    """
    holds = db_session.scalars(
        select(Reservation)
        .where(
            Reservation.work_order_id == work_order_id,
            Reservation.location_id == location_id,
            Reservation.part_id == part_id,
            Reservation.status == ACTIVE,
        )
        .order_by(Reservation.created_at, Reservation.id)
        .with_for_update()
    ).all()
    left = _dec(quantity)
    for held in holds:
        if left <= 0:
            break
        q = min(left, _dec(held.quantity))
        _unhold(db_session, location_id, part_id, q)
        _mark_used(db_session, held, q)
        left -= q
    return _dec(quantity) - left


def release_for_order(*, db_session: Session, work_order_id: uuid.UUID) -> int:
    """A cancelled or closed job needs nothing more: give back its direct reservations.

    Holds that belong to a requisition stay: cancelling the requisition releases them
    together with its lines. Returns how many holds were released.
    """
    holds = db_session.scalars(
        select(Reservation)
        .where(
            Reservation.work_order_id == work_order_id,
            Reservation.status == ACTIVE,
            Reservation.requisition_id.is_(None),
        )
        .with_for_update()
    ).all()
    now = utcnow()
    for held in holds:
        _unhold(db_session, held.location_id, held.part_id, _dec(held.quantity))
        held.status, held.closed_at = RELEASED, now
    return len(holds)


def _release_line(db_session: Session, requisition: Requisition, line: RequisitionLine) -> None:
    """Give back what the line still holds (approved, not shipped)."""
    rest = _dec(line.approved_quantity) - _dec(line.shipped_quantity)
    if rest <= 0:
        return
    _unhold(db_session, requisition.warehouse_id, line.part_id, rest)
    held = _active_reservation(db_session, requisition, line.part_id)
    if held is not None:
        held.status, held.closed_at = RELEASED, utcnow()


def _reserve_lines(
    db_session: Session, requisition: Requisition, approved: dict[uuid.UUID, Decimal]
) -> None:
    """Hold every approved quantity at the warehouse, all or nothing (then record it)."""
    warehouse = _warehouse(db_session, requisition.warehouse_id, "warehouse_id")
    lines = _lines(db_session, requisition)
    for line in lines:
        q = approved[line.id]
        if q > 0:
            _hold(db_session, warehouse, _part(db_session, line.part_id), q)
    for line in lines:
        q = approved[line.id]
        line.approved_quantity = q
        if q > 0 and requisition.work_order_id is not None:
            db_session.add(
                Reservation(
                    work_order_id=requisition.work_order_id,
                    location_id=warehouse.id,
                    part_id=line.part_id,
                    quantity=q,
                    status=ACTIVE,
                    requisition_id=requisition.id,
                )
            )


def _progress(lines: Sequence[RequisitionLine]) -> str:
    """The status the quantities say: received, partially received or in transit."""
    approved = sum((_dec(line.approved_quantity) for line in lines), ZERO)
    shipped = sum((_dec(line.shipped_quantity) for line in lines), ZERO)
    received = sum((_dec(line.received_quantity) for line in lines), ZERO)
    if approved > 0 and all(
        _dec(line.received_quantity) >= _dec(line.approved_quantity) for line in lines
    ):
        return RECEIVED
    if received > 0:
        return PARTIALLY_RECEIVED
    return IN_TRANSIT if shipped > 0 else APPROVED


def _tag(requisition: Requisition) -> str:
    """The note on every movement of a requisition (how receipt finds shipped serials)."""
    return f"Requisition {requisition.number}"


# --- reading -----------------------------------------------------------------------------


def requisition_query(
    *, principal: Principal, filters: dict[str, Any]
) -> Select[tuple[Requisition]]:
    """Requisitions newest first; technicians see only their own."""
    stmt = select(Requisition)
    if principal.is_technician:
        stmt = stmt.where(
            Requisition.technician_id == principal.technician_id
            if principal.technician_id is not None
            else false()
        )
    for key in ("status", "technician_id", "work_order_id", "warehouse_id"):
        if key in filters:
            stmt = stmt.where(getattr(Requisition, key) == filters[key])
    return stmt.order_by(Requisition.created_at.desc(), Requisition.number.desc(), Requisition.id)


def with_lines(
    *, db_session: Session, requisitions: Sequence[Requisition]
) -> list[RequisitionDetail]:
    """Attach each requisition's lines (one query for the whole page)."""
    ids = [r.id for r in requisitions]
    by_requisition: dict[uuid.UUID, list[RequisitionLine]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(RequisitionLine)
            .where(RequisitionLine.requisition_id.in_(ids))
            .order_by(RequisitionLine.id)
        )
        for line in db_session.scalars(stmt):
            by_requisition[line.requisition_id].append(line)
    return [RequisitionDetail(r, by_requisition[r.id]) for r in requisitions]


def get_requisition(
    *, db_session: Session, principal: Principal, requisition_id: uuid.UUID
) -> RequisitionDetail:
    """One requisition with its lines (another technician's is 404)."""
    requisition = _load(db_session, principal, requisition_id, lock=False)
    return RequisitionDetail(requisition, _lines(db_session, requisition))


def reservation_query(*, filters: dict[str, Any]) -> Select[tuple[Reservation]]:
    """Reservations newest first, filtered by status, order, location, part or requisition."""
    stmt = select(Reservation)
    for key in ("status", "work_order_id", "location_id", "part_id", "requisition_id"):
        if key in filters:
            stmt = stmt.where(getattr(Reservation, key) == filters[key])
    return stmt.order_by(Reservation.created_at.desc(), Reservation.id)


def reservation_mismatches(db_session: Session) -> list[str]:
    """Balances whose reserved differs from what reservations and requisitions hold."""
    expected: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}
    for loc, part, q in db_session.execute(
        select(Reservation.location_id, Reservation.part_id, Reservation.quantity).where(
            Reservation.status == ACTIVE
        )
    ):
        expected[(loc, part)] = expected.get((loc, part), ZERO) + _dec(q)
    restocks = db_session.execute(
        select(
            Requisition.warehouse_id,
            RequisitionLine.part_id,
            RequisitionLine.approved_quantity,
            RequisitionLine.shipped_quantity,
        )
        .join(RequisitionLine, RequisitionLine.requisition_id == Requisition.id)
        .where(Requisition.work_order_id.is_(None), Requisition.status.in_(HOLDING))
    )
    for loc, part, approved, shipped in restocks:
        expected[(loc, part)] = expected.get((loc, part), ZERO) + _dec(approved) - _dec(shipped)
    problems = []
    for balance in db_session.scalars(select(StockBalance)):
        key = (balance.location_id, balance.part_id)
        want = expected.pop(key, ZERO)
        if _dec(balance.reserved) != want:
            problems.append(f"{key}: reserved {balance.reserved}, held {want}")
    problems += [f"{key}: no balance row, held {q}" for key, q in expected.items() if q != 0]
    return problems


# --- requisitions ------------------------------------------------------------------------


def request_parts(
    *,
    db_session: Session,
    principal: Principal,
    data: dict[str, Any],
    auto_approve_limit: Decimal,
) -> RequisitionDetail:
    """File a requisition; below ``auto_approve_limit`` it is approved and reserved at once.

    An automatic approval needs the stock to be available; when it is not, the
    requisition simply waits for a person (who may approve less).
    """
    with service.transaction(db_session):
        technician = _technician(db_session, principal, data.get("technician_id"))
        warehouse = _warehouse(db_session, data["warehouse_id"], "warehouse_id")
        order_id = data.get("work_order_id")
        if order_id is not None:
            _work_order(db_session, principal, order_id, technician_id=technician.id)
        asked: list[tuple[Part, Decimal]] = []
        for index, given in enumerate(data["lines"]):
            part = _part(db_session, given["part_id"], f"lines.{index}.part_id")
            if not part.active:
                raise ValidationFailed(f"{part.sku} is inactive.", code="part_inactive")
            asked.append((part, service.quantity_of(given["quantity"])))
        value = sum((q * Decimal(str(p.unit_cost)) for p, q in asked), ZERO).quantize(CENT)
        if value >= MAX_VALUE:
            raise ValidationFailed("The requisition's value is too large.", code="value_too_large")
        requisition = Requisition(
            id=uuid.uuid4(),
            number=_next_number(db_session),
            technician_id=technician.id,
            work_order_id=order_id,
            warehouse_id=warehouse.id,
            status=REQUESTED,
            requested_by_id=principal.user_id,
            value=value,
            note=data.get("note"),
        )
        db_session.add(requisition)
        db_session.flush()
        db_session.add_all(
            RequisitionLine(requisition_id=requisition.id, part_id=part.id, quantity=q)
            for part, q in asked
        )
        db_session.flush()
        if value < auto_approve_limit:
            _auto_approve(db_session, requisition)
    return RequisitionDetail(requisition, _lines(db_session, requisition))


def _auto_approve(db_session: Session, requisition: Requisition) -> None:
    lines = _lines(db_session, requisition)
    try:
        # A savepoint: a refused hold on line 2 must not keep line 1's.
        with db_session.begin_nested():
            _reserve_lines(
                db_session, requisition, {line.id: _dec(line.quantity) for line in lines}
            )
    except Conflict as exc:
        if exc.code != "insufficient_stock":
            raise
        return  # not enough available: a person decides (and may approve less)
    requisition.status = APPROVED
    requisition.auto_approved = True
    requisition.decided_at = utcnow()


def _not_own(requisition: Requisition, principal: Principal) -> None:
    if requisition.requested_by_id == principal.user_id:
        raise Forbidden(
            "You cannot decide a requisition you filed yourself.", code="own_requisition"
        )


def approve(
    *,
    db_session: Session,
    principal: Principal,
    requisition_id: uuid.UUID,
    data: dict[str, Any],
) -> RequisitionDetail:
    """Approve (optionally less per line) and reserve at the warehouse, all or nothing."""
    with service.transaction(db_session):
        requisition = _load(db_session, principal, requisition_id, lock=True)
        _not_own(requisition, principal)
        if requisition.status != REQUESTED:
            raise _invalid_transition(requisition, "approved")
        lines = _lines(db_session, requisition)
        approved = {line.id: _dec(line.quantity) for line in lines}
        for given in data.get("lines") or []:
            line = _line_for(lines, given["part_id"])
            approved[line.id] = _approved_quantity(
                given["approved_quantity"], _dec(line.quantity), line.part_id
            )
        if not any(q > 0 for q in approved.values()):
            raise ValidationFailed(
                "Nothing would be approved; reject the requisition instead.",
                code="nothing_approved",
            )
        _reserve_lines(db_session, requisition, approved)
        requisition.status = APPROVED
        requisition.decided_by_id = principal.user_id
        requisition.decided_at = utcnow()
        requisition.decision_note = data.get("note")
    return RequisitionDetail(requisition, _lines(db_session, requisition))


def reject(
    *,
    db_session: Session,
    principal: Principal,
    requisition_id: uuid.UUID,
    note: str,
) -> RequisitionDetail:
    """Refuse a requisition that is still waiting for a decision, saying why."""
    with service.transaction(db_session):
        requisition = _load(db_session, principal, requisition_id, lock=True)
        _not_own(requisition, principal)
        if requisition.status != REQUESTED:
            raise _invalid_transition(requisition, "rejected")
        requisition.status = REJECTED
        requisition.decided_by_id = principal.user_id
        requisition.decided_at = utcnow()
        requisition.decision_note = note.strip()
    return RequisitionDetail(requisition, _lines(db_session, requisition))


def cancel(
    *,
    db_session: Session,
    principal: Principal,
    requisition_id: uuid.UUID,
    note: str | None,
) -> RequisitionDetail:
    """Withdraw a requisition before anything shipped; its reservations are released."""
    with service.transaction(db_session):
        requisition = _load(db_session, principal, requisition_id, lock=True)
        lines = _lines(db_session, requisition)
        shipped = any(_dec(line.shipped_quantity) > 0 for line in lines)
        if shipped or requisition.status in (IN_TRANSIT, PARTIALLY_RECEIVED, RECEIVED):
            raise Conflict(
                "Parts have shipped: receive them, then return what is not needed.",
                code="already_shipped",
                current_status=requisition.status,
            )
        if requisition.status not in (REQUESTED, APPROVED):
            raise _invalid_transition(requisition, "cancelled")
        if requisition.status == APPROVED:
            for line in lines:
                _release_line(db_session, requisition, line)
        requisition.status = CANCELLED
        if note:
            requisition.decision_note = note
    return RequisitionDetail(requisition, lines)


def _planned(
    lines: Sequence[RequisitionLine],
    given: list[dict[str, Any]] | None,
    outstanding: Any,
    *,
    too_much: str,
) -> list[tuple[RequisitionLine, Decimal, list[Any] | None]]:
    """(line, quantity, serials) to move: the lines given, else everything outstanding."""
    if not given:
        return [(line, outstanding(line), None) for line in lines if outstanding(line) > 0]
    plan = []
    for item in given:
        line = _line_for(lines, item["part_id"])
        q = service.quantity_of(item["quantity"])
        if q > outstanding(line):
            raise Conflict(
                f"{q} of part {line.part_id} is more than the {outstanding(line)} outstanding.",
                code=too_much,
                part_id=str(line.part_id),
                outstanding=str(outstanding(line)),
            )
        plan.append((line, q, item.get("serial_numbers")))
    return plan


def ship(
    *,
    db_session: Session,
    principal: Principal,
    requisition_id: uuid.UUID,
    data: dict[str, Any],
) -> RequisitionDetail:
    """Pick lines: post warehouse -> transit and turn their reservation into use."""
    with service.transaction(db_session):
        requisition = _load(db_session, principal, requisition_id, lock=True)
        if requisition.status not in SHIPPABLE:
            raise _invalid_transition(requisition, "shipped")
        lines = _lines(db_session, requisition)

        def unshipped(line: RequisitionLine) -> Decimal:
            return _dec(line.approved_quantity) - _dec(line.shipped_quantity)

        release_rest = bool(data.get("release_rest"))
        given = data.get("lines")
        # release_rest without lines closes the picking: nothing more ships.
        plan = (
            []
            if release_rest and not given
            else _planned(lines, given, unshipped, too_much="exceeds_approved")
        )
        if not plan and not release_rest:
            raise Conflict("Everything approved has shipped.", code="nothing_to_ship")
        warehouse = db_session.get(StockLocation, requisition.warehouse_id)
        assert warehouse is not None  # RESTRICT foreign key
        transit = service.singleton(db_session, TRANSIT)
        for line, q, serials in plan:
            service.post(
                db_session,
                part=_part(db_session, line.part_id),
                source=warehouse,
                destination=transit,
                quantity=q,
                reason="transfer",
                serials=serials,
                work_order_id=requisition.work_order_id,
                actor_id=principal.user_id,
                note=_tag(requisition),
                fulfils_reserved=q,
            )
            _unhold(db_session, warehouse.id, line.part_id, q)
            _use(db_session, requisition, line.part_id, q)
            line.shipped_quantity = _dec(line.shipped_quantity) + q
        if release_rest:
            for line in lines:
                _release_line(db_session, requisition, line)
                line.approved_quantity = _dec(line.shipped_quantity)
            if not any(_dec(line.shipped_quantity) > 0 for line in lines):
                raise Conflict(
                    "Nothing has shipped; cancel the requisition instead.",
                    code="nothing_to_ship",
                )
        requisition.status = _progress(lines)
    return RequisitionDetail(requisition, lines)


def _shipped_serials(
    db_session: Session, requisition: Requisition, part: Part, transit: StockLocation
) -> list[str]:
    """Serials this requisition shipped that are still in transit."""
    carried = db_session.scalars(
        select(StockMovement.serial_numbers).where(
            StockMovement.part_id == part.id,
            StockMovement.from_location_id == requisition.warehouse_id,
            StockMovement.to_location_id == transit.id,
            StockMovement.note == _tag(requisition),
        )
    )
    serials = [s for batch in carried for s in batch]
    if not serials:
        return []
    here = db_session.scalars(
        select(SerialUnit.serial).where(
            SerialUnit.part_id == part.id,
            SerialUnit.location_id == transit.id,
            SerialUnit.serial.in_(serials),
        )
    )
    present = set(here)
    return [s for s in serials if s in present]


def receive(
    *,
    db_session: Session,
    principal: Principal,
    requisition_id: uuid.UUID,
    data: dict[str, Any],
) -> RequisitionDetail:
    """Confirm what arrived: post transit -> the technician's van."""
    with service.transaction(db_session):
        requisition = _load(db_session, principal, requisition_id, lock=True)
        if requisition.status not in RECEIVABLE:
            raise _invalid_transition(requisition, "received")
        lines = _lines(db_session, requisition)

        def unreceived(line: RequisitionLine) -> Decimal:
            return _dec(line.shipped_quantity) - _dec(line.received_quantity)

        plan = _planned(lines, data.get("lines"), unreceived, too_much="exceeds_shipped")
        if not plan:
            raise Conflict("Everything shipped has been received.", code="nothing_to_receive")
        transit = service.singleton(db_session, TRANSIT)
        van = service.van_for(db_session, requisition.technician_id)
        for line, q, serials in plan:
            part = _part(db_session, line.part_id)
            if part.serialized and not serials:
                # Receiving the whole shipment needs no retyping of its serial numbers.
                known = _shipped_serials(db_session, requisition, part, transit)
                serials = known if len(known) == q else None
            service.post(
                db_session,
                part=part,
                source=transit,
                destination=van,
                quantity=q,
                reason="transfer",
                serials=serials,
                work_order_id=requisition.work_order_id,
                actor_id=principal.user_id,
                note=_tag(requisition),
            )
            line.received_quantity = _dec(line.received_quantity) + q
        requisition.status = _progress(lines)
    return RequisitionDetail(requisition, lines)


# --- returns -----------------------------------------------------------------------------


def return_parts(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> dict[str, list[StockMovement]]:
    """Unused parts go back: van -> warehouse, refused when the van lacks them."""
    with service.transaction(db_session):
        technician = _technician(db_session, principal, data.get("technician_id"))
        van = service.van_for(db_session, technician.id)
        warehouse_id = data.get("warehouse_id") or van.warehouse_id
        if warehouse_id is None:
            raise ValidationFailed(
                "The van has no home warehouse: send warehouse_id.",
                code="missing_location",
                errors={"json": {"warehouse_id": ["Required: the van has no home warehouse."]}},
            )
        warehouse = _warehouse(db_session, warehouse_id, "warehouse_id")
        order_id = data.get("work_order_id")
        if order_id is not None:
            stmt = select(WorkOrder.id).where(WorkOrder.id == order_id)
            if principal.is_technician:
                stmt = stmt.where(assigned_to(technician.id))
            if db_session.scalar(stmt) is None:
                raise service.unknown_reference(
                    "work_order_id", f"No work order with id {order_id}.", "unknown_work_order"
                )
        movements = []
        for index, line in enumerate(data["lines"]):
            movements.append(
                service.post(
                    db_session,
                    part=_part(db_session, line["part_id"], f"lines.{index}.part_id"),
                    source=van,
                    destination=warehouse,
                    quantity=service.quantity_of(line["quantity"]),
                    reason="return",
                    serials=line.get("serial_numbers"),
                    work_order_id=order_id,
                    actor_id=principal.user_id,
                    note=data.get("note"),
                )
            )
    return {"movements": movements}


# --- reservations for scheduled jobs -----------------------------------------------------


def reserve(*, db_session: Session, principal: Principal, data: dict[str, Any]) -> Reservation:
    """Hold stock at a warehouse or van for a work order (409 insufficient_stock)."""
    with service.transaction(db_session):
        _work_order(db_session, principal, data["work_order_id"], technician_id=None)
        location = db_session.get(StockLocation, data["location_id"])
        if location is None:
            raise service.unknown_reference(
                "location_id",
                f"No stock location with id {data['location_id']}.",
                "unknown_location",
            )
        if location.kind not in RESERVABLE_KINDS:
            raise ValidationFailed(
                f"Stock is reserved at a warehouse or van, not a {location.kind}.",
                code="not_reservable",
                errors={"json": {"location_id": ["Not a warehouse or van."]}},
            )
        if not location.active:
            raise Conflict(f"Location {location.code} is inactive.", code="location_inactive")
        part = _part(db_session, data["part_id"])
        q = service.quantity_of(data["quantity"])
        _hold(db_session, location, part, q)
        reservation = Reservation(
            work_order_id=data["work_order_id"],
            location_id=location.id,
            part_id=part.id,
            quantity=q,
            status=ACTIVE,
        )
        db_session.add(reservation)
    return reservation


def release(*, db_session: Session, principal: Principal, reservation_id: uuid.UUID) -> Reservation:
    """Give a job's reservation back to available stock (once)."""
    with service.transaction(db_session):
        reservation = db_session.scalar(
            select(Reservation)
            .where(Reservation.id == reservation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if reservation is None:
            raise NotFound(f"No reservation with id {reservation_id}.")
        if reservation.status != ACTIVE:
            raise Conflict(
                f"The reservation is {reservation.status}.",
                code="invalid_transition",
                current_status=reservation.status,
            )
        if reservation.requisition_id is not None:
            # Its line counts on it: the requisition's cancel or ship releases it.
            raise Conflict(
                "This reservation belongs to a requisition; cancel or ship that instead.",
                code="held_by_requisition",
                requisition_id=str(reservation.requisition_id),
            )
        _unhold(
            db_session, reservation.location_id, reservation.part_id, _dec(reservation.quantity)
        )
        reservation.status = RELEASED
        reservation.closed_at = utcnow()
    return reservation
