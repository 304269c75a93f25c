"""Posting to the spare-parts ledger: validation, stock policy, balances, serials.

Callers (REST views, the sync store, requisitions) run ``post`` inside their own
transaction and commit; a posting either lands whole (movement, both balances, serials,
discrepancy) or raises a domain error before anything is flushed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.db import utcnow
from server.equipment.models import Equipment
from server.equipment.service import record_part_swap
from server.errors import Conflict, NotFound, ValidationFailed
from server.parts.models import Part, PartUsage
from server.stock.models import (
    CONTROLLED,
    REASONS,
    SINGLETONS,
    SITE,
    VAN,
    RmaCase,
    SerialUnit,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMovement,
)
from server.sync.changelog import DEVICE_KEY
from server.sync.models import SyncChange
from server.work_orders.models import WorkOrder

VAN_STOCK = "van_stock"  # the synced table of a technician's own van balances
SCALE = Decimal("0.001")
HALF_UNIT = Decimal("0.0005")
ZERO = Decimal("0")
SINGLETON_NAMES = {
    "transit": "In transit",
    "defective": "Defective returns",
    "scrap": "Scrap",
    "supplier": "Suppliers",
    "adjustment": "Inventory adjustments",
    "vendor": "Vendors (RMA)",
}


# --- locations ---------------------------------------------------------------------------
def _tenant(db_session: Session) -> uuid.UUID:
    tenant = db_session.info.get("tenant_id")
    if tenant is None:
        raise RuntimeError("stock postings need a tenant-scoped session")
    return tenant  # type: ignore[no-any-return]


def _made_once(db_session: Session, where: Any, **values: Any) -> StockLocation:
    """The location matching ``where``, inserted first if absent.

    Insert-or-ignore, so two first uses at once (two phones of one technician pushing)
    cannot collide on the unique keys; the codes of made locations are reserved in the API.
    """
    found = db_session.scalar(select(StockLocation).where(where))
    if found is not None:
        return found
    now = utcnow()
    db_session.execute(
        _insert(db_session)(StockLocation)
        .values(
            id=uuid.uuid4(),
            tenant_id=_tenant(db_session),
            active=True,
            created_at=now,
            updated_at=now,
            **values,
        )
        .on_conflict_do_nothing()
    )
    found = db_session.scalar(select(StockLocation).where(where))
    if found is None:  # the code is taken by a location of another kind
        raise Conflict(f"Location code {values['code']} is taken.", code="duplicate_code")
    return found


def singleton(db_session: Session, kind: str) -> StockLocation:
    """The tenant's one location of this kind (in transit, scrap, suppliers...), made once."""
    if kind not in SINGLETONS:
        raise ValueError(kind)
    return _made_once(
        db_session,
        StockLocation.kind == kind,
        kind=kind,
        code=kind.upper(),
        name=SINGLETON_NAMES[kind],
    )


def van_for(db_session: Session, technician_id: uuid.UUID) -> StockLocation:
    """The technician's van, created the first time anything moves into or out of it."""
    return _made_once(
        db_session,
        StockLocation.technician_id == technician_id,
        kind=VAN,
        code=f"VAN-{technician_id.hex[:12].upper()}",
        name="Van",
        technician_id=technician_id,
    )


def site_location(db_session: Session, site_id: uuid.UUID) -> StockLocation:
    """The installed base at a customer site, created on first consumption there."""
    return _made_once(
        db_session,
        StockLocation.site_id == site_id,
        kind=SITE,
        code=f"SITE-{site_id.hex[:12].upper()}",
        name="Site",
        site_id=site_id,
    )


# --- use-case helpers ----------------------------------------------------------------------
@contextlib.contextmanager
def transaction(db_session: Session) -> Iterator[None]:
    """Commit on success; on any error roll back whatever the use case already wrote."""
    try:
        yield
        db_session.commit()
    except BaseException:
        db_session.rollback()
        raise


def unknown_reference(field: str, message: str, code: str) -> ValidationFailed:
    """422 for an id in the body that names nothing (errors keyed like marshmallow's)."""
    return ValidationFailed(message, code=code, errors={"json": {field: [message]}})


# --- validation --------------------------------------------------------------------------
def quantity_of(value: Any) -> Decimal:
    """A positive quantity with at most three decimals, or 422 ``invalid_quantity``."""
    try:
        q = Decimal(str(value))
    except (InvalidOperation, ValueError):
        q = Decimal("NaN")
    # Size first: quantize() raises on huge values (1e30) instead of answering.
    if not q.is_finite() or q <= 0 or q >= Decimal("1e11") or q != q.quantize(SCALE):
        raise ValidationFailed(
            "quantity must be a positive number with at most three decimals.",
            code="invalid_quantity",
        )
    return q


def serials_for(part: Part, quantity: Decimal, serials: Sequence[Any] | None) -> list[str]:
    """Serial numbers must come with serialised parts (one per unit) and only with them."""
    given = list(serials or [])
    if not part.serialized:
        if given:
            raise ValidationFailed(
                f"{part.sku} is not serialised: send no serial numbers.",
                code="serials_not_allowed",
            )
        return []
    if quantity != quantity.to_integral_value():
        raise ValidationFailed(
            f"{part.sku} is serialised: quantities are whole units.", code="invalid_quantity"
        )
    if not given:
        raise ValidationFailed(
            f"{part.sku} is serialised: send one serial number per unit.",
            code="serials_required",
        )
    if any(not isinstance(s, str) or not s.strip() or len(s) > 100 for s in given):
        raise ValidationFailed(
            "Serial numbers are non-empty strings of at most 100 characters.",
            code="invalid_serials",
        )
    cleaned = [s.strip() for s in given]
    if len(set(cleaned)) != len(cleaned):
        raise ValidationFailed("A serial number appears twice.", code="duplicate_serials")
    if len(cleaned) != int(quantity):
        raise ValidationFailed(
            f"{len(cleaned)} serial numbers for a quantity of {quantity}.",
            code="serial_count_mismatch",
        )
    return cleaned


# --- balances ----------------------------------------------------------------------------
def _insert(db_session: Session) -> Any:
    return pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _balance_id(
    db_session: Session, location_id: uuid.UUID, part_id: uuid.UUID
) -> tuple[uuid.UUID, bool]:
    """The balance row of (location, part) and whether this call inserted it (at zero).

    Insert-or-ignore, so two first postings to the same pair cannot collide.
    """
    stmt = select(StockBalance.id).where(
        StockBalance.location_id == location_id, StockBalance.part_id == part_id
    )
    found = db_session.scalar(stmt)
    if found is not None:
        return found, False
    new_id = uuid.uuid4()
    db_session.execute(
        _insert(db_session)(StockBalance)
        .values(
            id=new_id,
            tenant_id=_tenant(db_session),
            location_id=location_id,
            part_id=part_id,
            on_hand=Decimal("0"),
            reserved=Decimal("0"),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["location_id", "part_id"])
    )
    found = db_session.scalar(stmt)
    assert found is not None
    return found, found == new_id


def _shift(
    db_session: Session,
    balance_id: uuid.UUID,
    delta: Decimal,
    *,
    floor: bool,
    held: Decimal | None = None,
) -> Decimal | None:
    """Add ``delta`` to on hand; with ``floor`` only if it stays >= 0. Returns the new value.

    With ``held`` as well, only if available (on hand - reserved) stays >= 0 once the
    ``held`` units this movement itself fulfils are counted as free: reserved stock is
    promised to a job and must not leave through another movement.

    One conditional UPDATE: on PostgreSQL a concurrent taker of the last unit blocks on the
    row and then re-checks the condition, so exactly one of them wins.
    """
    stmt = (
        update(StockBalance)
        .where(StockBalance.id == balance_id)
        .values(on_hand=StockBalance.on_hand + delta, updated_at=utcnow())
        .returning(StockBalance.on_hand)
        .execution_options(synchronize_session=False)
    )
    if floor:
        # Half the smallest unit: SQLite keeps NUMERIC as floating point.
        stmt = stmt.where(StockBalance.on_hand + delta > -HALF_UNIT)
        if held is not None:
            stmt = stmt.where(
                StockBalance.on_hand - StockBalance.reserved + held + delta > -HALF_UNIT
            )
    value = db_session.execute(stmt).scalar_one_or_none()
    return None if value is None else Decimal(value).quantize(SCALE)


def _log_van(db_session: Session, location: StockLocation, balance: tuple[uuid.UUID, bool]) -> None:
    """Van balances are synced to the technician's phone: log the write for the feed."""
    balance_id, created = balance
    if location.kind == VAN:
        db_session.add(
            SyncChange(
                tenant_id=location.tenant_id,
                table_name=VAN_STOCK,
                row_id=balance_id,
                op="insert" if created else "update",
                columns=["on_hand"],
                origin_device=db_session.info.get(DEVICE_KEY),
            )
        )


# --- posting -----------------------------------------------------------------------------
def post(
    db_session: Session,
    *,
    part: Part,
    source: StockLocation,
    destination: StockLocation,
    quantity: Any,
    reason: str,
    serials: Sequence[Any] | None = None,
    work_order_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    origin: str = "api",
    occurred_at: dt.datetime | None = None,
    note: str | None = None,
    part_usage_id: uuid.UUID | None = None,
    reverses_id: uuid.UUID | None = None,
    field_truth: bool = False,
    fulfils_reserved: Any = 0,
    valued_like: StockMovement | None = None,
) -> StockMovement:
    """Move stock between two locations (one movement row, both balances, serials).

    On a refusal some statements may already have run (a zero balance row, one side
    shifted): the caller's transaction must be rolled back, as every use case does.

    ``field_truth`` marks consumption that already happened on site (pushed from a phone):
    a van may then go below zero and a serial may come from elsewhere; both are accepted
    and raised as discrepancies instead of refused.

    Reserved stock cannot leave a controlled location (``stock_reserved``) except as the
    ``fulfils_reserved`` units of the reservation this movement ships, or by an adjustment.

    The part's current cost and price are recorded on the movement, or those of
    ``valued_like`` (a reversal undoes its original at the original's values).
    """
    if reason not in REASONS:
        raise ValidationFailed(f"Unknown reason {reason!r}.", code="invalid_reason")
    if source.id == destination.id:
        raise ValidationFailed("From and to are the same location.", code="same_location")
    for where in (source, destination):
        if not where.active:
            raise Conflict(f"Location {where.code} is inactive.", code="location_inactive")
    q = quantity_of(quantity)
    unserialised: str | None = None
    try:
        numbers = serials_for(part, q, serials)
    except ValidationFailed as exc:
        if not field_truth:
            raise
        # The part was used whatever the phone recorded: post it, and ask for the serials.
        numbers, unserialised = [], exc.message
    movement = StockMovement(
        id=uuid.uuid4(),
        part_id=part.id,
        from_location_id=source.id,
        to_location_id=destination.id,
        quantity=q,
        unit_cost=valued_like.unit_cost if valued_like else part.unit_cost,
        unit_price=valued_like.unit_price if valued_like else part.unit_price,
        serial_numbers=numbers,
        reason=reason,
        work_order_id=work_order_id,
        actor_id=actor_id,
        source=origin,
        occurred_at=occurred_at or utcnow(),
        note=note,
        part_usage_id=part_usage_id,
        reverses_id=reverses_id,
    )
    discrepancies: list[StockDiscrepancy] = []
    out = _balance_id(db_session, source.id, part.id)
    out_id = out[0]
    controlled = source.kind in CONTROLLED
    # Field consumption and stocktake adjustments record what physically happened: they are
    # never refused for a reservation (a short count then surfaces when the job ships).
    if field_truth or reason == "adjustment":
        held = None
    else:
        held = quantity_of(fulfils_reserved) if fulfils_reserved else ZERO
    left = _shift(db_session, out_id, -q, floor=controlled, held=held)
    if left is None:
        if not (field_truth and source.kind == VAN):
            have, reserved = db_session.execute(
                select(StockBalance.on_hand, StockBalance.reserved).where(StockBalance.id == out_id)
            ).one()
            if Decimal(str(have)) + HALF_UNIT > q:
                raise Conflict(
                    f"{source.code} holds {have} of {part.sku}, but {reserved} of it is "
                    f"reserved for jobs; {q} requested.",
                    code="stock_reserved",
                    on_hand=str(have),
                    reserved=str(reserved),
                    requested=str(q),
                )
            raise Conflict(
                f"{source.code} holds {have} of {part.sku}; {q} requested.",
                code="insufficient_stock",
                on_hand=str(have),
                requested=str(q),
            )
        left = _shift(db_session, out_id, -q, floor=False)
        assert left is not None
    if controlled and left < 0:
        discrepancies.append(
            StockDiscrepancy(
                location_id=source.id,
                part_id=part.id,
                movement_id=movement.id,
                kind="negative_stock",
                quantity=min(q, -left),
                detail=f"Used on site with {left + q} on the books.",
            )
        )
    into = _balance_id(db_session, destination.id, part.id)
    _shift(db_session, into[0], q, floor=False)
    _log_van(db_session, source, out)
    _log_van(db_session, destination, into)
    discrepancies += _move_serials(
        db_session, part, numbers, source, destination, movement, field_truth=field_truth
    )
    if unserialised is not None:
        discrepancies.append(
            StockDiscrepancy(
                location_id=source.id,
                part_id=part.id,
                movement_id=movement.id,
                kind="serials_missing",
                quantity=q,
                detail=unserialised,
            )
        )
    db_session.add(movement)
    db_session.flush()  # the movement first: discrepancies point at it
    db_session.add_all(discrepancies)
    return movement


def _move_serials(
    db_session: Session,
    part: Part,
    numbers: list[str],
    source: StockLocation,
    destination: StockLocation,
    movement: StockMovement,
    *,
    field_truth: bool,
) -> list[StockDiscrepancy]:
    found: list[StockDiscrepancy] = []
    tenant = _tenant(db_session)
    for serial in numbers:
        unit = db_session.get(SerialUnit, (tenant, part.id, serial))
        here = unit.location_id if unit is not None else None
        misplaced = (source.kind in CONTROLLED and here != source.id) or (
            source.kind not in CONTROLLED
            and here is not None
            and here != source.id
            and _kind(db_session, here) in CONTROLLED
        )
        if misplaced:
            if not field_truth:
                raise Conflict(
                    f"Serial {serial} of {part.sku} is not at {source.code}.",
                    code="serial_not_here",
                    serial=serial,
                )
            found.append(
                StockDiscrepancy(
                    location_id=source.id,
                    part_id=part.id,
                    movement_id=movement.id,
                    kind="serial_elsewhere",
                    quantity=Decimal("1"),
                    detail=f"Serial {serial} was booked elsewhere.",
                )
            )
        if unit is None:
            db_session.add(
                SerialUnit(
                    tenant_id=tenant, part_id=part.id, serial=serial, location_id=destination.id
                )
            )
        else:
            unit.location_id = destination.id
            unit.updated_at = utcnow()
    return found


def _kind(db_session: Session, location_id: uuid.UUID) -> str:
    location = db_session.get(StockLocation, location_id)
    return location.kind if location is not None else ""


def reverse(
    db_session: Session,
    *,
    movement: StockMovement,
    actor_id: uuid.UUID | None,
    note: str | None = None,
) -> StockMovement:
    """Undo a movement with its mirror image (once); the original stays as it was."""
    if movement.reason == "reversal":
        raise Conflict("A reversal is not reversed; post a new movement.", code="is_reversal")
    if db_session.scalar(select(StockMovement.id).where(StockMovement.reverses_id == movement.id)):
        raise Conflict("This movement is already reversed.", code="already_reversed")
    part = db_session.get(Part, movement.part_id)
    source = db_session.get(StockLocation, movement.to_location_id)
    destination = db_session.get(StockLocation, movement.from_location_id)
    if part is None or source is None or destination is None:
        raise NotFound("The movement's part or locations are gone.")
    return post(
        db_session,
        part=part,
        source=source,
        destination=destination,
        quantity=movement.quantity,
        reason="reversal",
        serials=movement.serial_numbers,
        work_order_id=movement.work_order_id,
        actor_id=actor_id,
        note=note,
        reverses_id=movement.id,
        valued_like=movement,
    )


def ledger_mismatches(db_session: Session) -> list[str]:
    """Balances that differ from the sum of their movements (empty when the books agree)."""
    inflow = select(
        StockMovement.to_location_id.label("loc"),
        StockMovement.part_id.label("part"),
        StockMovement.quantity.label("q"),
    )
    outflow = select(
        StockMovement.from_location_id.label("loc"),
        StockMovement.part_id.label("part"),
        (-StockMovement.quantity).label("q"),
    )
    flows = inflow.union_all(outflow).subquery()
    sums = {
        (loc, part): Decimal(str(total))
        for loc, part, total in db_session.execute(
            select(flows.c.loc, flows.c.part, func.sum(flows.c.q)).group_by(
                flows.c.loc, flows.c.part
            )
        )
    }
    problems = []
    seen = set()
    for balance in db_session.scalars(select(StockBalance)):
        key = (balance.location_id, balance.part_id)
        seen.add(key)
        expected = sums.get(key, Decimal("0")).quantize(SCALE)
        if Decimal(balance.on_hand).quantize(SCALE) != expected:
            problems.append(f"{key}: balance {balance.on_hand}, movements {expected}")
    for key, total in sums.items():
        if key not in seen and total.quantize(SCALE) != 0:
            problems.append(f"{key}: no balance row, movements {total}")
    return problems


def consume_from_field(
    db_session: Session, *, usage: PartUsage, actor_id: uuid.UUID | None = None
) -> StockMovement | None:
    """Post a parts-usage row pushed from a phone: van -> the order's site, as recorded.

    Idempotent (one movement per usage row). Never refused: the technician's record is
    the truth of what was used; shortfalls and serial surprises become discrepancies.
    A serialised part fitted into a unit becomes a configuration revision of that unit,
    and what came out goes to the defective location with an RMA case.
    """
    done = select(StockMovement.id).where(StockMovement.part_usage_id == usage.id)
    if usage.technician_id is None or db_session.scalar(done) is not None:
        return None
    order = db_session.get(WorkOrder, usage.work_order_id)
    part = db_session.get(Part, usage.part_id)
    if order is None or part is None:
        return None
    site = site_location(db_session, order.site_id)
    movement = post(
        db_session,
        part=part,
        source=van_for(db_session, usage.technician_id),
        destination=site,
        quantity=usage.quantity,
        reason="consumption",
        serials=usage.serial_numbers,
        work_order_id=order.id,
        actor_id=actor_id,
        origin="sync",
        occurred_at=usage.used_at,
        part_usage_id=usage.id,
        field_truth=True,
    )
    # Imported here: requisitions builds on this module's posting functions.
    from server.stock.requisitions import consume_reserved

    consume_reserved(
        db_session,
        work_order_id=order.id,
        location_id=movement.from_location_id,
        part_id=part.id,
        quantity=movement.quantity,
    )
    removed = [str(s).strip() for s in usage.removed_serial_numbers or [] if str(s).strip()]
    _take_out(db_session, usage=usage, part=part, order=order, site=site, serials=removed)
    unit = db_session.get(Equipment, usage.equipment_id) if usage.equipment_id else None
    if unit is not None and actor_id is not None and part.serialized:
        record_part_swap(
            db_session,
            equipment=unit,
            part=part,
            installed=list(movement.serial_numbers),
            removed=removed,
            actor_id=actor_id,
            work_order_id=order.id,
            at=usage.used_at,
        )
    return movement


def _take_out(
    db_session: Session,
    *,
    usage: PartUsage,
    part: Part,
    order: WorkOrder,
    site: StockLocation,
    serials: list[str],
) -> list[RmaCase]:
    """Parts removed from the equipment: site -> defective, one RMA case per unit."""
    if part.serialized:
        batches = [(Decimal(1), [serial]) for serial in dict.fromkeys(serials)]
    else:
        count = Decimal(usage.removed_quantity or 0).quantize(SCALE)
        batches = [(count, [])] if count > 0 else []
    cases = []
    defective = singleton(db_session, "defective")
    for quantity, numbers in batches:
        movement = post(
            db_session,
            part=part,
            source=site,
            destination=defective,
            quantity=quantity,
            reason="rma",
            serials=numbers,
            work_order_id=order.id,
            origin="sync",
            occurred_at=usage.used_at,
            field_truth=True,
        )
        case_id = uuid.uuid4()
        cases.append(
            RmaCase(
                id=case_id,
                number=f"RMA-{case_id.hex[:10].upper()}",
                part_id=part.id,
                serial=numbers[0] if numbers else None,
                quantity=quantity,
                work_order_id=order.id,
                equipment_id=usage.equipment_id,
                movement_id=movement.id,
            )
        )
    db_session.add_all(cases)
    return cases
