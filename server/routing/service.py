"""Routing-rule use cases: manage the ordered list, dry-run it, and route a new order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.customers.models import Customer, Site
from server.db import utcnow
from server.equipment.models import Equipment
from server.errors import NotFound, ValidationFailed
from server.organization.models import Skill, Territory
from server.routing.models import RoutingRule
from server.routing.schemas import MAX_RULES
from server.technicians.models import Technician
from server.work_orders.models import CHANNELS, PRIORITIES, SUPPORT_TIERS
from workflow import routing_rules as rr

# Allowed values of the facts whose vocabulary is fixed.
VOCAB: dict[str, tuple[str, ...]] = {
    "channel": CHANNELS,
    "priority": PRIORITIES,
    "support_tier": SUPPORT_TIERS,
    "warranty": rr.WARRANTY,
}
# Order fields routing may change (and the dry-run reports).
ROUTED = (
    "category",
    "priority",
    "support_tier",
    "team_queue",
    "tags",
    "required_skills",
    "lead_technician_id",
)


def _rule_error(exc: rr.RuleError) -> ValidationFailed:
    errors: dict[str, list[str]] = {}
    for p in exc.problems:
        errors.setdefault(p.path, []).append(p.message)
    return ValidationFailed(exc.problems[0].message, code=exc.code, errors=errors)


def _parse(rule: RoutingRule) -> rr.Rule:
    return rr.parse_rule(
        rule_id=str(rule.id),
        name=rule.name,
        conditions=rule.conditions,
        actions=rule.actions,
        vocab=VOCAB,
    )


def _check_references(db_session: Session, parsed: rr.Rule) -> None:
    """Skills and technicians named by actions must exist now (422 otherwise)."""
    for i, action in enumerate(parsed.actions):
        path = f"actions.{i}.value"
        if action.action == "set_required_skills":
            codes = [code for code, _ in action.value]
            found = set(db_session.scalars(select(Skill.code).where(Skill.code.in_(codes))))
            unknown = [c for c in codes if c not in found]
            if unknown:
                raise ValidationFailed(
                    f"Unknown skill code(s): {', '.join(unknown)}.",
                    code="unknown_skill",
                    errors={path: [f"Unknown skill code {c!r}." for c in unknown]},
                )
        elif action.action == "assign_technician":
            tech = db_session.get(Technician, uuid.UUID(action.value))
            if tech is None:
                raise ValidationFailed(
                    "Unknown technician.", code="unknown_technician", errors={path: ["Unknown."]}
                )
            if not tech.active:
                raise ValidationFailed(
                    "Technician is inactive.",
                    code="technician_inactive",
                    errors={path: ["Inactive."]},
                )


def list_rules(*, db_session: Session) -> list[RoutingRule]:
    """Every rule of the tenant in evaluation order."""
    return list(
        db_session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))
    )


def get_rule(*, db_session: Session, rule_id: uuid.UUID) -> RoutingRule:
    """One rule, or 404."""
    rule = db_session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"No routing rule with id {rule_id}.")
    return rule


def _validate_set(rules: Sequence[RoutingRule], candidate: RoutingRule, parsed: rr.Rule) -> None:
    """Refuse a cycle among the active rules once ``candidate`` is saved as ``parsed``."""
    active: list[rr.Rule] = []
    for rule in rules:
        if rule.id == candidate.id:
            if candidate.active:
                active.append(parsed)
        elif rule.active:
            try:
                active.append(_parse(rule))
            except rr.RuleError:
                continue  # saved before a vocabulary change; it is skipped at run time too
    if candidate.active and all(r.id != str(candidate.id) for r in active):
        active.append(parsed)
    try:
        rr.check_rule_set(active)
    except rr.RuleError as exc:
        raise _rule_error(exc) from exc


def _place(rules: list[RoutingRule], rule: RoutingRule, position: int | None) -> None:
    """Put ``rule`` at 1-based ``position`` (end when None) and renumber 1..n."""
    ordered = [r for r in rules if r.id != rule.id]
    index = len(ordered) if position is None else min(position - 1, len(ordered))
    ordered.insert(index, rule)
    for i, r in enumerate(ordered, start=1):
        if r.position != i:
            r.position = i


def _candidate(db_session: Session, rule: RoutingRule, data: dict[str, Any]) -> rr.Rule:
    """Validate the rule as it would be after ``data``; nothing is written on failure."""
    try:
        parsed = rr.parse_rule(
            rule_id=str(rule.id),
            name=data.get("name", rule.name),
            conditions=data.get("conditions", rule.conditions),
            actions=data.get("actions", rule.actions),
            vocab=VOCAB,
        )
    except rr.RuleError as exc:
        raise _rule_error(exc) from exc
    _check_references(db_session, parsed)
    return parsed


def create_rule(*, db_session: Session, data: dict[str, Any], commit: bool = True) -> RoutingRule:
    """Validate and insert a rule (at the end, or at ``position``); ``commit=False`` leaves
    the transaction to the caller (the demo seed)."""
    rules = list_rules(db_session=db_session)
    if len(rules) >= MAX_RULES:
        raise ValidationFailed(f"At most {MAX_RULES} rules per tenant.", code="too_many_rules")
    rule = RoutingRule(
        id=uuid.uuid4(),
        name=data["name"].strip(),
        active=data.get("active", True),
        conditions=[],
        actions=[],
        position=0,
    )
    parsed = _candidate(db_session, rule, data)
    _validate_set(rules, rule, parsed)
    rule.conditions = list(data.get("conditions") or [])
    rule.actions = list(data["actions"])
    _place(rules, rule, data.get("position"))
    db_session.add(rule)
    if commit:
        db_session.commit()
    else:
        db_session.flush()
    return rule


def update_rule(*, db_session: Session, rule: RoutingRule, data: dict[str, Any]) -> RoutingRule:
    """Change a rule; the whole list is re-checked for loops before anything is written."""
    rules = list_rules(db_session=db_session)
    parsed = _candidate(db_session, rule, data)
    # Checked on a detached view of the new state so a refusal leaves the row untouched.
    probe = RoutingRule(id=rule.id, name=parsed.name, active=data.get("active", rule.active))
    _validate_set(rules, probe, parsed)
    for key in ("name", "active", "conditions", "actions"):
        if key in data:
            setattr(rule, key, data[key].strip() if key == "name" else data[key])
    if "position" in data:
        _place(rules, rule, data["position"])
    db_session.commit()
    return rule


def delete_rule(*, db_session: Session, rule: RoutingRule) -> None:
    """Remove a rule and close the gap in the positions."""
    rules = [r for r in list_rules(db_session=db_session) if r.id != rule.id]
    db_session.delete(rule)
    for i, r in enumerate(rules, start=1):
        if r.position != i:
            r.position = i
    db_session.commit()


def reorder_rules(*, db_session: Session, ids: list[uuid.UUID]) -> list[RoutingRule]:
    """Put the rules in the given order; the list must name every rule exactly once."""
    rules = {r.id: r for r in list_rules(db_session=db_session)}
    if len(ids) != len(set(ids)) or set(ids) != set(rules):
        missing = [str(i) for i in rules if i not in set(ids)]
        unknown = [str(i) for i in ids if i not in rules]
        raise ValidationFailed(
            "Send every rule id exactly once.",
            code="invalid_rule_order",
            errors={"ids": {"missing": missing, "unknown": unknown}},
        )
    for i, rule_id in enumerate(ids, start=1):
        if rules[rule_id].position != i:
            rules[rule_id].position = i
    db_session.commit()
    return [rules[i] for i in ids]


# --- evaluation -------------------------------------------------------------------------


def active_rules(db_session: Session) -> list[rr.Rule]:
    """The tenant's active rules, parsed, in order (one query; unparsable ones skipped)."""
    rows = db_session.scalars(
        select(RoutingRule)
        .where(RoutingRule.active.is_(True))
        .order_by(RoutingRule.position, RoutingRule.id)
    )
    parsed = []
    for row in rows:
        try:
            parsed.append(_parse(row))
        except rr.RuleError:
            continue  # never fail an order because of a stored rule
    return parsed


def _reads(rules: Sequence[rr.Rule]) -> frozenset[str]:
    return frozenset().union(*(r.reads for r in rules)) if rules else frozenset()


def facts_for(
    *,
    db_session: Session,
    rules: Sequence[rr.Rule],
    data: dict[str, Any],
    customer: Customer | None,
    site: Site | None,
    equipment: Equipment | None,
) -> dict[str, Any]:
    """What rule conditions look at, for a request about to become an order."""
    reads = _reads(rules)
    territory: list[str] = []
    if site is not None and site.territory_id is not None:
        territory.append(str(site.territory_id))
        if "territory" in reads:  # the code costs a lookup; only when a rule asks
            found = db_session.get(Territory, site.territory_id)
            if found is not None:
                territory.append(found.code)
    warranty = "none"
    if equipment is not None:
        zone = ZoneInfo(site.timezone) if site is not None else ZoneInfo("UTC")
        warranty = rr.warranty_status(equipment.warranty_end, utcnow().astimezone(zone).date())
    title, description = data.get("title") or "", data.get("description") or ""
    return {
        "text": f"{title}\n{description}",
        "channel": data.get("channel", "api"),
        "category": data.get("category"),
        "priority": data.get("priority", "normal"),
        "support_tier": data.get("support_tier", "L2"),
        "team_queue": data.get("team_queue"),
        "tags": list(data.get("tags") or []),
        "customer_tier": customer.tier if customer is not None else None,
        "equipment_model": equipment.model if equipment is not None else None,
        "warranty": warranty,
        "territory": territory or None,
        "required_skills": list(data.get("required_skills") or []),
        "lead_technician_id": (
            str(data["lead_technician_id"]) if data.get("lead_technician_id") else None
        ),
        "no_dispatch": False,
    }


def run_rules(
    *, db_session: Session, rules: Sequence[rr.Rule], facts: dict[str, Any]
) -> rr.Outcome:
    """Evaluate, then drop actions whose references went stale since the rule was saved."""
    outcome = rr.evaluate(rules, facts)
    result = outcome.facts
    lead = result.get("lead_technician_id")
    if lead and lead != facts.get("lead_technician_id"):
        tech = db_session.get(Technician, uuid.UUID(lead))
        if tech is None or not tech.active:
            result["lead_technician_id"] = facts.get("lead_technician_id")
            outcome.skipped.append(
                {"rule_id": "", "action": "assign_technician", "reason": "technician_unavailable"}
            )
    skills = result.get("required_skills") or []
    if skills and skills != facts.get("required_skills"):
        codes = [s["skill"] for s in skills]
        known = set(db_session.scalars(select(Skill.code).where(Skill.code.in_(codes))))
        if len(known) != len(set(codes)):
            result["required_skills"] = [s for s in skills if s["skill"] in known]
            outcome.skipped.append(
                {"rule_id": "", "action": "set_required_skills", "reason": "unknown_skill"}
            )
    return outcome


def dry_run(*, db_session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """Which rules would fire for a sample request and what they would set; no writes."""
    equipment = site = customer = None
    if data.get("equipment_id"):
        equipment = db_session.get(Equipment, data["equipment_id"])
        if equipment is None:
            raise ValidationFailed(
                "Unknown equipment.",
                code="unknown_equipment",
                errors={"equipment_id": ["Unknown."]},
            )
    site_id = data.get("site_id") or (equipment.site_id if equipment is not None else None)
    if site_id is not None:
        site = db_session.get(Site, site_id)
        if site is None:
            raise ValidationFailed(
                "Unknown site.", code="unknown_site", errors={"site_id": ["Unknown."]}
            )
        if equipment is not None and equipment.site_id != site.id:
            raise ValidationFailed(
                "The equipment is not installed at this site.",
                code="equipment_not_at_site",
                errors={"equipment_id": ["Not at the site."]},
            )
    customer_id = data.get("customer_id") or (site.customer_id if site is not None else None)
    if customer_id is not None:
        customer = db_session.get(Customer, customer_id)
        if customer is None:
            raise ValidationFailed(
                "Unknown customer.", code="unknown_customer", errors={"customer_id": ["Unknown."]}
            )
        if site is not None and site.customer_id != customer.id:
            raise ValidationFailed(
                "The site belongs to another customer.",
                code="site_customer_mismatch",
                errors={"customer_id": ["Does not own the site."]},
            )
    rules = active_rules(db_session)
    sample = {**data, "title": data.get("subject", ""), "description": data.get("body", "")}
    facts = facts_for(
        db_session=db_session,
        rules=rules,
        data=sample,
        customer=customer,
        site=site,
        equipment=equipment,
    )
    outcome = run_rules(db_session=db_session, rules=rules, facts=facts)
    shown = {k: v for k, v in facts.items() if k not in ROUTED and k != "no_dispatch"}
    return {
        "fired": outcome.fired,
        "skipped": outcome.skipped,
        "stopped_by": outcome.stopped_by,
        "result": {
            **{k: outcome.facts.get(k) for k in ROUTED},
            "no_dispatch": bool(outcome.facts.get("no_dispatch")),
        },
        "facts": shown,
    }


def route(
    *,
    db_session: Session,
    data: dict[str, Any],
    site: Site,
) -> dict[str, Any]:
    """The create data after the tenant's active rules ran (see hooks.route_new_order)."""
    rules = active_rules(db_session)
    if not rules:
        return data
    equipment = (
        db_session.get(Equipment, data["equipment_id"]) if data.get("equipment_id") else None
    )
    facts = facts_for(
        db_session=db_session,
        rules=rules,
        data=data,
        customer=site.customer,
        site=site,
        equipment=equipment,
    )
    outcome = run_rules(db_session=db_session, rules=rules, facts=facts)
    if not outcome.fired:
        return data
    result = outcome.facts
    routed = dict(data)
    for key in ("category", "priority", "support_tier", "team_queue", "tags", "required_skills"):
        if result.get(key) != facts.get(key):
            routed[key] = result[key]
    if result.get("lead_technician_id") != facts.get("lead_technician_id"):
        lead = result.get("lead_technician_id")
        routed["lead_technician_id"] = uuid.UUID(lead) if lead else None
    if result.get("no_dispatch"):
        # Not field work: nobody is sent, so no helpers either.
        routed["helper_ids"] = []
    routed["routing"] = {
        "fired": outcome.fired,
        **({"skipped": outcome.skipped} if outcome.skipped else {}),
        **({"no_dispatch": True} if result.get("no_dispatch") else {}),
    }
    return routed
