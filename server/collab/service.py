"""Collab use cases: comments with @mentions, subtasks, L1 remote resolution, L3 defects."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.principal import Principal
from server.blobs.models import Blob
from server.collab.models import ACTIVE_DEFECT_STATUSES, Defect, DefectWorkOrder
from server.db import utcnow
from server.equipment.models import Equipment
from server.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from server.http import apply_sort, text_search
from server.kb.models import KbArticle
from server.notifications.models import NotificationOutbox
from server.sla import hooks as sla_hooks
from server.technicians.models import Technician
from server.work_orders import service as orders
from server.work_orders.models import WorkOrder, WorkOrderComment
from server.work_orders.scope import visible_orders
from workflow.lifecycle import OFFICE, OPEN, TERMINAL, Role, Status

KIND_MENTION = "mention"
# "@li.wei", "@li.wei@example.com"; not the middle of an address ("ops@example.com").
MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)")
OPEN_VALUES = frozenset(s.value for s in OPEN)
FINISHED_VALUES = (Status.COMPLETED.value, Status.CLOSED.value, Status.CANCELLED.value)
PATTERN_PERIOD = dt.timedelta(days=90)
PATTERN_LIMIT = 500
# Lifecycle refusals that mean "no completing move from here", not "bad request".
NO_PATH_CODES = frozenset(
    {
        "invalid_transition",
        "transition_forbidden_for_role",
        "not_assigned_to_order",
        "transition_requirements_missing",
    }
)


# --- comments ---------------------------------------------------------------------------


def comment_query(
    *, order: WorkOrder, visibility: str | None = None
) -> Select[tuple[WorkOrderComment]]:
    """An order's comments, oldest first (staff and the order's technicians see all)."""
    stmt = select(WorkOrderComment).where(WorkOrderComment.work_order_id == order.id)
    if visibility:
        stmt = stmt.where(WorkOrderComment.visibility == visibility)
    return stmt.order_by(WorkOrderComment.created_at, WorkOrderComment.id)


def _mention_tokens(body: str) -> list[str]:
    """The @words of a body, lower-cased, without trailing sentence punctuation."""
    tokens = (m.group(1).rstrip("._-").lower() for m in MENTION.finditer(body))
    return list(dict.fromkeys(t for t in tokens if t))


def _users_by_token(db_session: Session, token: str) -> list[User]:
    column = func.lower(User.email)
    match = column == token if "@" in token else column.startswith(f"{token}@", autoescape=True)
    stmt = select(User).where(match, User.is_active.is_(True)).order_by(User.email)
    return list(db_session.scalars(stmt))


def _mentioned_users(db_session: Session, body: str, explicit: list[uuid.UUID]) -> list[User]:
    """Explicit ids must be active users of the tenant; @words matching nobody are text."""
    found: dict[uuid.UUID, User] = {}
    if explicit:
        wanted = list(dict.fromkeys(explicit))
        rows = db_session.scalars(select(User).where(User.id.in_(wanted), User.is_active.is_(True)))
        found.update({u.id: u for u in rows})
        unknown = [str(i) for i in wanted if i not in found]
        if unknown:
            raise ValidationFailed(
                "Unknown or inactive user mentioned.",
                code="unknown_mention",
                errors={"mentions": unknown},
            )
    for token in _mention_tokens(body):
        users = _users_by_token(db_session, token)
        if len(users) > 1:
            # Notifying the wrong person would leak an internal note: make the writer pick.
            raise ValidationFailed(
                f"@{token} matches several people; use the full e-mail address.",
                code="ambiguous_mention",
                errors={"body": [f"@{token}: {', '.join(u.email for u in users)}"]},
            )
        if users:
            found.setdefault(users[0].id, users[0])
    return list(found.values())


def _check_mentions_may_see(db_session: Session, order: WorkOrder, users: list[User]) -> None:
    """Technicians see only their own orders: mentioning another one would leak the note."""
    techs = [u for u in users if u.role == Role.TECHNICIAN.value]
    if not techs:
        return
    assignees = {order.lead_technician_id, *order.helper_ids} - {None}
    allowed = set(
        db_session.scalars(
            select(Technician.user_id).where(
                Technician.id.in_(assignees), Technician.user_id.in_([u.id for u in techs])
            )
        )
    )
    refused = [u for u in techs if u.id not in allowed]
    if refused:
        raise ValidationFailed(
            "A mentioned technician is not assigned to this order and cannot read it.",
            code="mention_not_allowed",
            errors={"mentions": [str(u.id) for u in refused]},
        )


def _check_attachments(db_session: Session, keys: list[str]) -> None:
    if not keys:
        return
    known = set(db_session.scalars(select(Blob.sha256).where(Blob.sha256.in_(keys))))
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValidationFailed(
            "Unknown attachment; upload the blob first.",
            code="unknown_attachment",
            errors={"attachments": unknown},
        )


def mention_payload(*, order: WorkOrder, comment: WorkOrderComment, author: str) -> dict[str, Any]:
    """Push data for a mention (strings only; the comment's text stays off lock screens)."""
    return {
        "type": KIND_MENTION,
        "work_order_id": str(order.id),
        "number": order.number,
        "comment_id": str(comment.id),
        "author": author,
        "title": f"{author or 'Someone'} mentioned you on {order.number}",
        "body": order.title,
    }


def add_comment(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> WorkOrderComment:
    """Write a staff comment, notify the mentioned users and record it in the history."""
    visibility = data.get("visibility", "internal")
    if visibility == "customer" and principal.role not in OFFICE:
        raise Forbidden(
            "Technicians write internal notes; the office answers the customer.",
            code="customer_comment_forbidden",
        )
    mentioned = _mentioned_users(db_session, data["body"], data.get("mentions") or [])
    _check_mentions_may_see(db_session, order, mentioned)
    _check_attachments(db_session, data.get("attachments") or [])
    author = db_session.get(User, principal.user_id)
    author_name = author.name if author is not None else None
    now = utcnow()
    comment = WorkOrderComment(
        id=uuid.uuid4(),
        tenant_id=order.tenant_id,
        work_order_id=order.id,
        visibility=visibility,
        author_kind="user",
        author_user_id=principal.user_id,
        author_name=author_name,
        body=data["body"],
        mentions=[str(u.id) for u in mentioned],
        attachments=list(data.get("attachments") or []),
        created_at=now,
    )
    db_session.add(comment)
    for user in mentioned:
        if user.id == principal.user_id:
            continue  # writing your own name is not news to you
        db_session.add(
            NotificationOutbox(
                tenant_id=order.tenant_id,
                user_id=user.id,
                kind=KIND_MENTION,
                payload=mention_payload(order=order, comment=comment, author=author_name or ""),
                collapse_key=f"mention-{comment.id}"[:64],
            )
        )
    # The history is readable by everyone on the order: ids only, never the text.
    orders.record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type="commented",
        payload={
            "comment_id": str(comment.id),
            "visibility": visibility,
            "mentions": comment.mentions,
        },
        occurred_at=now,
    )
    if visibility == "customer":
        sla_hooks.on_first_response(db_session=db_session, order=order, at=now)
    db_session.commit()
    return comment


# --- subtasks ---------------------------------------------------------------------------

INHERITED = ("order_type", "priority", "category", "team_queue")


def subtask_query(*, principal: Principal, parent: WorkOrder) -> Select[tuple[WorkOrder]]:
    """The parent's child orders the caller may see, oldest first."""
    stmt = select(WorkOrder).where(WorkOrder.parent_id == parent.id)
    scope = visible_orders(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    return stmt.order_by(WorkOrder.created_at, WorkOrder.id)


def open_subtasks(*, db_session: Session, parent_id: uuid.UUID) -> list[WorkOrder]:
    """Children not completed, closed or cancelled (whoever asks: the rule is the order's)."""
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.parent_id == parent_id, WorkOrder.status.not_in(FINISHED_VALUES))
        .order_by(WorkOrder.created_at, WorkOrder.id)
    )
    return list(db_session.scalars(stmt))


def check_subtasks_done(*, db_session: Session, order: WorkOrder) -> None:
    """409 subtasks_open when the order requires its subtasks and one is still open."""
    if not order.requires_subtasks:
        return
    pending = open_subtasks(db_session=db_session, parent_id=order.id)
    if pending:
        raise Conflict(
            f"{len(pending)} subtask(s) must be completed, closed or cancelled first.",
            code="subtasks_open",
            open_subtasks=[
                {"id": str(c.id), "number": c.number, "status": c.status} for c in pending
            ],
        )


def create_subtask(
    *, db_session: Session, principal: Principal, parent: WorkOrder, data: dict[str, Any]
) -> WorkOrder:
    """Create a child order (site, equipment, type, priority, category, queue inherited)."""
    child: dict[str, Any] = dict(data)
    child.setdefault("site_id", parent.site_id)
    if "equipment_id" not in data and child["site_id"] == parent.site_id:
        child["equipment_id"] = parent.equipment_id
    for key in INHERITED:
        if key not in data and getattr(parent, key) is not None:
            child[key] = getattr(parent, key)
    child["parent_id"] = parent.id
    # Known up front so the parent's history names the child in the same transaction.
    child["id"] = uuid.uuid4()
    orders.record_event(
        db_session=db_session,
        order=parent,
        principal=principal,
        event_type="subtask_added",
        payload={"subtask_id": str(child["id"]), "title": child["title"]},
    )
    return orders.create_work_order(db_session=db_session, principal=principal, data=child)


# --- L1: remote resolution --------------------------------------------------------------


def _kb_articles(db_session: Session, ids: list[uuid.UUID]) -> list[KbArticle]:
    if not ids:
        return []
    found = {a.id: a for a in db_session.scalars(select(KbArticle).where(KbArticle.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise ValidationFailed(
            "Unknown knowledge-base article.",
            code="unknown_kb_article",
            errors={"kb_article_ids": unknown},
        )
    return [found[i] for i in ids]


def _set_tier(db_session: Session, principal: Principal, order: WorkOrder, tier: str) -> None:
    """Change the tier like a PATCH would: edit rules, 'updated' history entry, SLA hook."""
    if order.support_tier != tier:
        orders.apply_update(
            db_session=db_session, principal=principal, order=order, data={"support_tier": tier}
        )


def resolve_remotely(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> dict[str, Any]:
    """Mark the order L1-resolved and end it through the lifecycle.

    The lifecycle lets office roles complete only from on_site; from anywhere else the
    closest legal end is cancellation with the resolution as reason (the event says so).
    """
    if Status(order.status) not in OPEN:
        raise Conflict(f"A {order.status} order is already finished.", code="order_not_open")
    articles = _kb_articles(db_session, data.get("kb_article_ids") or [])
    note: str = data["resolution"].strip()
    # Resolving counts as completing: a parent's required subtasks block both paths.
    check_subtasks_done(db_session=db_session, order=order)
    _set_tier(db_session, principal, order, "L1")
    completed = True
    try:
        with db_session.begin_nested():
            orders.apply_transition(
                db_session=db_session,
                principal=principal,
                order=order,
                data={"to": Status.COMPLETED.value, "resolution_summary": note},
            )
    except DomainError as exc:
        if exc.code not in NO_PATH_CODES:
            raise
        completed = False
    if not completed:
        try:
            with db_session.begin_nested():
                orders.apply_transition(
                    db_session=db_session,
                    principal=principal,
                    order=order,
                    data={"to": Status.CANCELLED.value, "reason": "Resolved remotely (L1)."},
                )
        except DomainError as exc:
            if exc.code not in NO_PATH_CODES:
                raise
            raise Conflict(
                f"The lifecycle offers no way to end a {order.status} order for your role.",
                code="remote_resolution_not_possible",
                from_status=order.status,
            ) from exc
        order.resolution_summary = note
    orders.record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type="resolved_remotely",
        payload={
            "resolution": note,
            "kb_article_ids": [str(a.id) for a in articles],
            "kb_articles": [{"id": str(a.id), "title": a.title} for a in articles],
            "completed": completed,
            "status": order.status,
        },
    )
    db_session.commit()
    return {
        "work_order_id": order.id,
        "status": order.status,
        "support_tier": order.support_tier,
        "completed": completed,
        "kb_article_ids": [a.id for a in articles],
    }


# --- L3: escalation and defects ---------------------------------------------------------


def _equipment_model(db_session: Session, order: WorkOrder, given: str | None) -> str:
    if order.equipment_id is not None:
        equipment = db_session.get(Equipment, order.equipment_id)
        if equipment is not None:
            if given is not None and given.strip() != equipment.model:
                raise ValidationFailed(
                    "The order's equipment is another model.",
                    code="equipment_model_mismatch",
                    errors={"equipment_model": [f"The equipment is a {equipment.model}."]},
                )
            return equipment.model
    if given is None or not given.strip():
        raise ValidationFailed(
            "The order has no equipment: name the equipment model.",
            code="equipment_model_required",
            errors={"equipment_model": ["Required for orders without equipment."]},
        )
    return given.strip()


def _active_defect(db_session: Session, model: str, symptom: str) -> Defect | None:
    stmt = select(Defect).where(
        Defect.equipment_model == model,
        Defect.symptom == symptom,
        Defect.status.in_(ACTIVE_DEFECT_STATUSES),
    )
    return db_session.scalar(stmt)


def _find_or_open_defect(
    db_session: Session, principal: Principal, model: str, symptom: str, data: dict[str, Any]
) -> tuple[Defect, bool]:
    """The active defect of this pattern, or a new one (True) when there is none."""
    defect = _active_defect(db_session, model, symptom)
    if defect is not None:
        return defect, False
    defect = Defect(
        tenant_id=principal.tenant_id,
        title=(data.get("title") or f"{model}: {symptom}")[:200],
        equipment_model=model,
        symptom=symptom,
        status="open",
        description=data.get("description", ""),
        created_by_id=principal.user_id,
    )
    try:
        with db_session.begin_nested():
            db_session.add(defect)
    except IntegrityError:
        # A concurrent escalation opened the same pattern first: join its record.
        existing = _active_defect(db_session, model, symptom)
        if existing is None:
            raise
        return existing, False
    return defect, True


def escalate_l3(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> dict[str, Any]:
    """Set tier L3 and link the order to the active defect of its model and symptom
    (opening one when none is active)."""
    if Status(order.status) in TERMINAL:
        raise Conflict(f"A {order.status} order cannot be escalated.", code="order_closed")
    model = _equipment_model(db_session, order, data.get("equipment_model"))
    symptom = (data.get("symptom") or order.category or "").strip()
    if not symptom:
        raise ValidationFailed(
            "The order has no category: name the symptom.",
            code="symptom_required",
            errors={"symptom": ["Required for orders without a category."]},
        )
    defect, created = _find_or_open_defect(db_session, principal, model, symptom, data)
    link = db_session.get(DefectWorkOrder, (defect.id, order.id))
    newly_linked = link is None
    if newly_linked:
        db_session.add(
            DefectWorkOrder(
                tenant_id=order.tenant_id,
                defect_id=defect.id,
                work_order_id=order.id,
                linked_at=utcnow(),
                linked_by_id=principal.user_id,
            )
        )
    tier_changed = order.support_tier != "L3"
    _set_tier(db_session, principal, order, "L3")
    if newly_linked or tier_changed:
        orders.record_event(
            db_session=db_session,
            order=order,
            principal=principal,
            event_type="escalated_l3",
            payload={
                "defect_id": str(defect.id),
                "defect_created": created,
                "equipment_model": model,
                "symptom": symptom,
                **({"note": data["note"]} if data.get("note") else {}),
            },
        )
    db_session.commit()
    return {**defect_detail(db_session=db_session, defect=defect), "created": created}


def _link_count() -> Any:
    return (
        select(func.count())
        .select_from(DefectWorkOrder)
        .where(DefectWorkOrder.defect_id == Defect.id)
        .correlate(Defect)
        .scalar_subquery()
    )


DEFECT_SORTS = {
    "created_at": Defect.created_at,
    "updated_at": Defect.updated_at,
    "status": Defect.status,
    "equipment_model": Defect.equipment_model,
    "linked_orders_count": _link_count(),
}


def defect_query(*, filters: dict[str, Any]) -> Select[Any]:
    """Defects with their linked-order counts (rows of (Defect, count)), newest first."""
    stmt = select(Defect, _link_count().label("linked_orders_count"))
    for key in ("status", "equipment_model", "symptom"):
        if key in filters:
            stmt = stmt.where(getattr(Defect, key) == filters[key])
    stmt = text_search(stmt, filters.get("q"), Defect.title)
    return apply_sort(
        stmt, filters.get("sort"), DEFECT_SORTS, [Defect.created_at.desc()], Defect.id
    )


def get_defect(*, db_session: Session, defect_id: uuid.UUID) -> Defect:
    """One defect of the tenant (404 otherwise)."""
    defect = db_session.get(Defect, defect_id)
    if defect is None:
        raise NotFound(f"No defect with id {defect_id}.")
    return defect


def defect_detail(*, db_session: Session, defect: Defect) -> dict[str, Any]:
    """The defect's fields plus its linked orders, oldest link first."""
    rows = db_session.execute(
        select(DefectWorkOrder, WorkOrder)
        .join(WorkOrder, WorkOrder.id == DefectWorkOrder.work_order_id)
        .where(DefectWorkOrder.defect_id == defect.id)
        .order_by(DefectWorkOrder.linked_at, WorkOrder.number)
    ).all()
    linked = [
        {
            "work_order_id": order.id,
            "number": order.number,
            "title": order.title,
            "status": order.status,
            "site_id": order.site_id,
            "equipment_id": order.equipment_id,
            "linked_at": link.linked_at,
            "linked_by_id": link.linked_by_id,
        }
        for link, order in rows
    ]
    fields = (
        "id",
        "title",
        "equipment_model",
        "symptom",
        "status",
        "description",
        "created_by_id",
        "created_at",
        "updated_at",
    )
    return {
        **{name: getattr(defect, name) for name in fields},
        "linked_orders_count": len(linked),
        "orders": linked,
    }


def update_defect(*, db_session: Session, defect: Defect, data: dict[str, Any]) -> Defect:
    """Change a defect's status, title or description."""
    target = data.get("status", defect.status)
    reactivating = target in ACTIVE_DEFECT_STATUSES and defect.status not in ACTIVE_DEFECT_STATUSES
    if reactivating:
        other = _active_defect(db_session, defect.equipment_model, defect.symptom)
        if other is not None and other.id != defect.id:
            raise Conflict(
                "Another defect of this model and symptom is active; link orders there.",
                code="defect_pattern_active",
                defect_id=str(other.id),
            )
    for key in ("status", "title", "description"):
        if key in data:
            setattr(defect, key, data[key].strip() if key == "title" else data[key])
    db_session.commit()
    return defect


def failure_patterns(*, db_session: Session, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Order counts per (equipment model, category) created in the period, most first,
    with the active defect of each pattern (if any)."""
    end = args.get("created_to") or utcnow()
    start = args.get("created_from") or end - PATTERN_PERIOD
    if end <= start:
        raise ValidationFailed(
            "The period is empty.",
            code="invalid_period",
            errors={"created_to": ["Must be after created_from."]},
        )
    count = func.count(WorkOrder.id)
    open_count = func.sum(case((WorkOrder.status.in_(sorted(OPEN_VALUES)), 1), else_=0))
    stmt = (
        select(
            Equipment.model,
            WorkOrder.category,
            count,
            open_count,
            func.min(WorkOrder.created_at),
            func.max(WorkOrder.created_at),
        )
        .join(Equipment, Equipment.id == WorkOrder.equipment_id)
        .where(WorkOrder.created_at >= start, WorkOrder.created_at < end)
        .group_by(Equipment.model, WorkOrder.category)
        .having(count >= args.get("min_orders", 1))
        .order_by(count.desc(), Equipment.model, WorkOrder.category)
        .limit(PATTERN_LIMIT)
    )
    if "equipment_model" in args:
        stmt = stmt.where(Equipment.model == args["equipment_model"])
    if "category" in args:
        stmt = stmt.where(WorkOrder.category == args["category"])
    rows = db_session.execute(stmt).all()
    models = {row[0] for row in rows}
    active: dict[tuple[str, str], Defect] = {}
    if models:
        defects = db_session.scalars(
            select(Defect).where(
                Defect.equipment_model.in_(models), Defect.status.in_(ACTIVE_DEFECT_STATUSES)
            )
        )
        active = {(d.equipment_model, d.symptom): d for d in defects}
    result = []
    for model, category, total, still_open, first_at, last_at in rows:
        defect = active.get((model, category)) if category is not None else None
        result.append(
            {
                "equipment_model": model,
                "category": category,
                "order_count": int(total),
                "open_count": int(still_open or 0),
                "first_at": first_at,
                "last_at": last_at,
                "defect_id": defect.id if defect else None,
                "defect_status": defect.status if defect else None,
            }
        )
    return result
