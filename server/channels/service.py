"""Inbound-channel use cases: receive an e-mail or web-form request, thread replies,
and let agents convert or dismiss what could not be matched to a customer."""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.auth.service_accounts import service_principal
from server.channels.models import InboundMessage
from server.customers.models import Customer, Site
from server.db import set_tenant, system_scope, utcnow
from server.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized
from server.http import apply_sort, text_search
from server.schemas import storable_text_error
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder, WorkOrderComment
from server.work_orders.service import create_work_order

# "[WO-2026-000123]" anywhere in a subject: the number our replies carry.
ORDER_NUMBER = re.compile(r"\[([A-Za-z0-9]{1,8}-\d{4}-\d{1,9})\]")
INBOX_SORTS = {"received_at": InboundMessage.received_at}
NO_SUBJECT = "(no subject)"


def check_secret(*, configured: str | None, given: str | None) -> None:
    """The webhook's shared secret: 404 when the channel is off, 401 missing, 403 wrong."""
    if not configured:
        raise NotFound("Inbound e-mail is not enabled on this server.", code="channel_disabled")
    if not given:
        raise Unauthorized("Send the shared secret in X-Webhook-Secret.", code="secret_missing")
    # Constant-time: the comparison must not leak how much of a guess was right.
    if not hmac.compare_digest(given.encode(), configured.encode()):
        raise Forbidden("The webhook secret is wrong.", code="secret_invalid")


def bind_tenant(*, db_session: Session, slug: str) -> Tenant:
    """Scope the session to the tenant a public URL names (404 when there is none)."""
    # A path segment can carry anything (%00 included); no tenant has such a slug.
    if len(slug) > 64 or storable_text_error(slug):
        raise NotFound(f"No tenant {slug[:64]!r}.")
    with system_scope(db_session):
        tenant = db_session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    set_tenant(db_session, tenant.id)
    return tenant


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def _contact_matches(customer: Customer, *, email: str | None, phone: str | None) -> bool:
    wanted_email = (email or "").strip().casefold()
    wanted_phone = _digits(phone)
    for contact in customer.contacts or []:
        if not isinstance(contact, dict):
            continue
        if wanted_email and str(contact.get("email") or "").strip().casefold() == wanted_email:
            return True
        # At least 6 digits, so "110" typed into a form matches nobody's switchboard.
        if len(wanted_phone) >= 6 and _digits(str(contact.get("phone") or "")) == wanted_phone:
            return True
    return False


def match_customer(
    *, db_session: Session, email: str | None, phone: str | None, customer_ref: str | None
) -> tuple[Customer | None, str | None]:
    """The customer whose contact list holds this e-mail (or phone, with a customer code).

    Returns (customer, None) or (None, reason): unknown_sender, ambiguous_sender,
    contact_not_verified (a code was given but the contact is not one of its contacts).
    """
    if customer_ref:
        customer = db_session.scalar(select(Customer).where(Customer.code == customer_ref))
        if customer is not None and _contact_matches(customer, email=email, phone=phone):
            return customer, None
        if customer is not None:
            # Knowing a customer code is not enough to order work on its account.
            return None, "contact_not_verified"
    if not email:
        return None, "unknown_sender"
    stmt = select(Customer)
    if email.isascii():
        # The LIKE narrows the scan; the exact comparison happens in Python. (SQLite's JSON
        # text escapes non-ASCII characters, so such addresses are compared in Python only.)
        stmt = stmt.where(cast(Customer.contacts, String).icontains(email.strip(), autoescape=True))
    candidates = db_session.scalars(stmt)
    found = [c for c in candidates if _contact_matches(c, email=email, phone=None)]
    if len(found) > 1:
        return None, "ambiguous_sender"
    if not found:
        return None, "unknown_sender"
    return found[0], None


def _first_site(db_session: Session, customer: Customer) -> Site | None:
    return db_session.scalar(
        select(Site)
        .where(Site.customer_id == customer.id)
        .order_by(Site.created_at, Site.id)
        .limit(1)
    )


def _contact(msg: InboundMessage) -> dict[str, Any]:
    contact = {"name": msg.from_name, "email": msg.from_address, "phone": msg.phone}
    return {k: v for k, v in contact.items() if v}


def _order_data(msg: InboundMessage, *, site_id: uuid.UUID, order_id: uuid.UUID) -> dict[str, Any]:
    title = (msg.subject or "").strip()[:200] or NO_SUBJECT
    return {
        "id": order_id,
        "title": title,
        "description": msg.body or "",
        "order_type": "repair",
        "site_id": site_id,
        "channel": msg.channel,
        "contact": _contact(msg),
    }


def _store_unmatched(
    db_session: Session, msg: InboundMessage, reason: str, customer: Customer | None
) -> InboundMessage:
    msg.status = "unmatched"
    msg.reason = reason
    msg.customer_id = customer.id if customer is not None else None
    msg.work_order_id = None
    db_session.add(msg)
    db_session.commit()
    return msg


def _copy(msg: InboundMessage) -> InboundMessage:
    """A fresh, unsaved copy (the original was discarded by a rollback)."""
    keys = (
        "id", "tenant_id", "channel", "message_id", "in_reply_to", "references",
        "from_address", "from_name", "phone", "customer_ref", "subject", "body", "received_at",
    )  # fmt: skip
    return InboundMessage(**{k: getattr(msg, k) for k in keys})


def _open_request(db_session: Session, tenant: Tenant, msg: InboundMessage) -> InboundMessage:
    """Make an order for a matched sender, else put the message in the inbox."""
    customer, reason = match_customer(
        db_session=db_session,
        email=msg.from_address,
        phone=msg.phone,
        customer_ref=msg.customer_ref,
    )
    site = _first_site(db_session, customer) if customer is not None else None
    if customer is None or site is None:
        return _store_unmatched(db_session, msg, reason or "customer_without_site", customer)
    kind = "email" if msg.channel == "email" else "portal"
    principal = service_principal(db_session=db_session, tenant_id=tenant.id, kind=kind)
    order_id = uuid.uuid4()
    msg.status = "created"
    msg.customer_id = customer.id
    msg.work_order_id = order_id
    backup = _copy(msg)
    db_session.add(msg)
    try:
        # Commits the order and the message together (the message's FK is deferred).
        create_work_order(
            db_session=db_session,
            principal=principal,
            data=_order_data(msg, site_id=site.id, order_id=order_id),
        )
    except DomainError as exc:
        # E.g. a required custom field no e-mail can fill: an agent takes it from here.
        db_session.rollback()
        set_tenant(db_session, tenant.id)
        return _store_unmatched(db_session, backup, f"order_refused:{exc.code}"[:64], customer)
    return msg


def _existing(db_session: Session, message_id: str) -> InboundMessage | None:
    return db_session.scalar(select(InboundMessage).where(InboundMessage.message_id == message_id))


def _thread_target(db_session: Session, msg: InboundMessage) -> WorkOrder | None:
    """The order a reply belongs to: by the messages it answers, else by [number]."""
    ids = [i for i in [msg.in_reply_to, *(msg.references or [])] if i]
    if ids:
        order_id = db_session.scalar(
            select(InboundMessage.work_order_id)
            .where(InboundMessage.message_id.in_(ids), InboundMessage.work_order_id.is_not(None))
            .order_by(InboundMessage.received_at.desc())
            .limit(1)
        )
        if order_id is not None:
            order = db_session.get(WorkOrder, order_id)
            if order is not None:
                return order
    number = ORDER_NUMBER.search(msg.subject or "")
    if number:
        return db_session.scalar(select(WorkOrder).where(WorkOrder.number == number.group(1)))
    return None


def receive_email(*, db_session: Session, tenant: Tenant, data: dict[str, Any]) -> InboundMessage:
    """Thread a reply onto its order, or open a new request; a redelivery changes nothing."""
    message_id = data["message_id"].strip()
    existing = _existing(db_session, message_id)
    if existing is not None:
        return existing
    sender = data["sender"]
    msg = InboundMessage(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        channel="email",
        message_id=message_id,
        in_reply_to=(data.get("in_reply_to") or "").strip() or None,
        references=[r.strip() for r in data.get("references") or [] if r.strip()],
        from_address=sender["address"].strip(),
        from_name=(sender.get("name") or "").strip() or None,
        subject=data.get("subject") or "",
        body=data.get("body") or "",
        received_at=utcnow(),
    )
    order = _thread_target(db_session, msg)
    if order is None:
        return _open_request(db_session, tenant, msg)
    body = msg.body.strip() or msg.subject.strip() or NO_SUBJECT
    db_session.add(
        WorkOrderComment(
            tenant_id=tenant.id,
            work_order_id=order.id,
            visibility="customer",
            author_kind="customer",
            author_name=(msg.from_name or msg.from_address or "")[:120],
            body=body,
            created_at=msg.received_at,
        )
    )
    msg.status = "threaded"
    msg.work_order_id = order.id
    msg.customer_id = order.customer_id
    db_session.add(msg)
    db_session.commit()
    return msg


def receive_web_form(
    *, db_session: Session, tenant: Tenant, data: dict[str, Any]
) -> InboundMessage | None:
    """Open a request from the public form; None when the honeypot was filled (a bot)."""
    if (data.get("website") or "").strip():
        return None
    msg = InboundMessage(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        channel="web",
        from_address=(data.get("email") or "").strip() or None,
        from_name=data["name"].strip(),
        phone=(data.get("phone") or "").strip() or None,
        customer_ref=(data.get("customer_ref") or "").strip() or None,
        subject=data["subject"].strip(),
        body=data.get("description") or "",
        received_at=utcnow(),
    )
    return _open_request(db_session, tenant, msg)


def result_of(*, db_session: Session, msg: InboundMessage) -> dict[str, Any]:
    """The webhook's answer for a message (identical on every redelivery)."""
    number = None
    if msg.work_order_id is not None:
        number = db_session.scalar(
            select(WorkOrder.number).where(WorkOrder.id == msg.work_order_id)
        )
    return {
        "id": msg.id,
        "status": msg.status,
        "reason": msg.reason,
        "work_order_id": msg.work_order_id,
        "work_order_number": number,
    }


# --- the inbox --------------------------------------------------------------------------


def inbox_query(*, filters: dict[str, Any]) -> Any:
    """Inbound messages with the given status, newest first by default."""
    model = InboundMessage
    stmt = select(model).where(model.status == filters["status"])
    if "channel" in filters:
        stmt = stmt.where(model.channel == filters["channel"])
    stmt = text_search(
        stmt, filters.get("q"), model.subject, model.body, model.from_address, model.from_name
    )
    return apply_sort(stmt, filters.get("sort"), INBOX_SORTS, [model.received_at.desc()], model.id)


def get_item(*, db_session: Session, item_id: uuid.UUID) -> InboundMessage:
    """One inbound message, or 404."""
    item = db_session.get(InboundMessage, item_id)
    if item is None:
        raise NotFound(f"No inbound message with id {item_id}.")
    return item


def _check_open(item: InboundMessage) -> None:
    if item.status != "unmatched":
        raise Conflict(f"This message is already {item.status}.", code="inbox_item_closed")


def convert_item(
    *, db_session: Session, principal: Principal, item: InboundMessage, data: dict[str, Any]
) -> WorkOrder:
    """Create an order from an unmatched message at the site the agent chose."""
    _check_open(item)
    site = db_session.get(Site, data["site_id"])
    order_id = uuid.uuid4()
    order_data = _order_data(item, site_id=data["site_id"], order_id=order_id)
    order_data["order_type"] = data["order_type"]
    if data.get("title"):
        order_data["title"] = data["title"].strip()
    if data.get("priority"):
        order_data["priority"] = data["priority"]
    now = utcnow()
    item.status = "converted"
    item.work_order_id = order_id
    item.customer_id = site.customer_id if site is not None else None
    item.resolved_at = now
    item.resolved_by_id = principal.user_id
    # One transaction: a refused order leaves the item untouched (the request rolls back).
    return create_work_order(db_session=db_session, principal=principal, data=order_data)


def dismiss_item(
    *, db_session: Session, principal: Principal, item: InboundMessage
) -> InboundMessage:
    """Close an unmatched message without an order (spam, wrong address, duplicate)."""
    _check_open(item)
    item.status = "dismissed"
    item.resolved_at = utcnow()
    item.resolved_by_id = principal.user_id
    db_session.commit()
    return item
