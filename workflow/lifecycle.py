"""Work-order lifecycle: the single table of legal transitions, shared by the API and sync.

Pure Python on purpose: the REST edge and the offline sync engine both validate status
changes here, so a transition can never be legal through one path and illegal through
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Every status a work order can be in."""

    NEW = "new"
    TRIAGED = "triaged"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class Role(StrEnum):
    """User roles; the lifecycle only cares who may move an order."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    AGENT = "agent"
    TECHNICIAN = "technician"


class Requirement(StrEnum):
    """Data a transition needs before it may happen."""

    LEAD_TECHNICIAN = "lead_technician"
    SCHEDULE = "schedule"
    RESOLUTION_SUMMARY = "resolution_summary"
    HOLD_REASON = "hold_reason"
    REASON = "reason"
    ASSIGNEE = "assignee"  # the acting technician must be the lead or a helper


class Effect(StrEnum):
    """State the service stamps on the order when a transition succeeds."""

    SET_ACTUAL_START = "set_actual_start"
    SET_ACTUAL_END = "set_actual_end"
    CLEAR_HOLD = "clear_hold"
    # A reopened order starts a new visit: times and summary of the last one live on
    # only in the event history.
    CLEAR_COMPLETION = "clear_completion"


OFFICE = frozenset({Role.ADMIN, Role.DISPATCHER, Role.AGENT})
PLANNERS = frozenset({Role.ADMIN, Role.DISPATCHER})
FIELD = frozenset({Role.TECHNICIAN, Role.ADMIN, Role.DISPATCHER})

ACTIVE = frozenset(
    {
        Status.NEW,
        Status.TRIAGED,
        Status.SCHEDULED,
        Status.DISPATCHED,
        Status.ACCEPTED,
        Status.EN_ROUTE,
        Status.ON_SITE,
        Status.REOPENED,
    }
)
TERMINAL = frozenset({Status.CLOSED, Status.CANCELLED})
OPEN = frozenset(set(Status) - TERMINAL - {Status.COMPLETED})

HOLD_REASONS = frozenset({"parts", "customer", "access", "other"})


@dataclass(frozen=True)
class Rule:
    """One legal edge of the lifecycle graph."""

    sources: frozenset[Status]
    target: Status
    roles: frozenset[Role]
    requires: frozenset[Requirement] = field(default_factory=frozenset)
    effects: frozenset[Effect] = field(default_factory=frozenset)


def _s(*statuses: Status) -> frozenset[Status]:
    return frozenset(statuses)


def _r(*reqs: Requirement) -> frozenset[Requirement]:
    return frozenset(reqs)


# The table. Several rules may share a target when sources need different roles or data.
RULES: tuple[Rule, ...] = (
    Rule(_s(Status.NEW, Status.REOPENED), Status.TRIAGED, OFFICE),
    Rule(
        _s(Status.NEW, Status.TRIAGED, Status.REOPENED, Status.DISPATCHED, Status.ACCEPTED),
        Status.SCHEDULED,
        PLANNERS,
        _r(Requirement.LEAD_TECHNICIAN, Requirement.SCHEDULE),
    ),
    Rule(
        _s(Status.SCHEDULED),
        Status.DISPATCHED,
        PLANNERS,
        _r(Requirement.LEAD_TECHNICIAN, Requirement.SCHEDULE),
    ),
    Rule(_s(Status.DISPATCHED), Status.ACCEPTED, FIELD, _r(Requirement.ASSIGNEE)),
    Rule(_s(Status.ACCEPTED), Status.EN_ROUTE, FIELD, _r(Requirement.ASSIGNEE)),
    Rule(
        _s(Status.ACCEPTED, Status.EN_ROUTE),
        Status.ON_SITE,
        FIELD,
        _r(Requirement.ASSIGNEE),
        frozenset({Effect.SET_ACTUAL_START}),
    ),
    Rule(
        _s(Status.ON_SITE),
        Status.COMPLETED,
        FIELD,
        _r(Requirement.ASSIGNEE, Requirement.RESOLUTION_SUMMARY),
        frozenset({Effect.SET_ACTUAL_END}),
    ),
    # Support tier L1: resolved remotely (phone, KB article) with no visit, so no actual
    # times; a planned visit or an order on hold may end this way too (the customer fixed
    # it meanwhile). On site, the technician completes.
    Rule(
        _s(*(ACTIVE | {Status.ON_HOLD}) - {Status.ON_SITE}),
        Status.COMPLETED,
        OFFICE,
        _r(Requirement.RESOLUTION_SUMMARY),
        frozenset({Effect.CLEAR_HOLD}),
    ),
    Rule(_s(Status.COMPLETED), Status.CLOSED, OFFICE),
    Rule(
        _s(*(ACTIVE - {Status.ON_SITE, Status.EN_ROUTE, Status.ACCEPTED})),
        Status.ON_HOLD,
        OFFICE,
        _r(Requirement.HOLD_REASON),
    ),
    Rule(
        _s(Status.ACCEPTED, Status.EN_ROUTE, Status.ON_SITE),
        Status.ON_HOLD,
        FIELD | OFFICE,
        _r(Requirement.HOLD_REASON),
    ),
    Rule(_s(Status.ON_HOLD), Status.TRIAGED, OFFICE, effects=frozenset({Effect.CLEAR_HOLD})),
    Rule(
        _s(Status.ON_HOLD),
        Status.SCHEDULED,
        PLANNERS,
        _r(Requirement.LEAD_TECHNICIAN, Requirement.SCHEDULE),
        frozenset({Effect.CLEAR_HOLD}),
    ),
    Rule(
        _s(Status.ON_HOLD),
        Status.ON_SITE,
        FIELD,
        _r(Requirement.ASSIGNEE),
        frozenset({Effect.CLEAR_HOLD, Effect.SET_ACTUAL_START}),
    ),
    Rule(
        _s(*(ACTIVE | {Status.ON_HOLD}) - {Status.ON_SITE}),
        Status.CANCELLED,
        OFFICE,
        _r(Requirement.REASON),
        frozenset({Effect.CLEAR_HOLD}),
    ),
    Rule(
        _s(Status.COMPLETED, Status.CLOSED),
        Status.REOPENED,
        OFFICE,
        _r(Requirement.REASON),
        frozenset({Effect.CLEAR_COMPLETION}),
    ),
)


def _index(rules: tuple[Rule, ...]) -> Mapping[tuple[Status, Status], tuple[Rule, ...]]:
    table: dict[tuple[Status, Status], list[Rule]] = {}
    for rule in rules:
        for source in rule.sources:
            table.setdefault((source, rule.target), []).append(rule)
    return {edge: tuple(found) for edge, found in table.items()}


_TABLE = _index(RULES)


@dataclass(frozen=True)
class TransitionContext:
    """What the caller knows about the order and the actor when asking for a transition."""

    role: Role
    has_lead_technician: bool = False
    has_schedule: bool = False
    actor_is_assignee: bool = False
    resolution_summary: str | None = None
    hold_reason: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of checking one transition: allowed, or why not (machine-readable)."""

    allowed: bool
    code: str | None = None
    missing: frozenset[Requirement] = field(default_factory=frozenset)
    effects: frozenset[Effect] = field(default_factory=frozenset)


def allowed_targets(source: Status) -> frozenset[Status]:
    """Every status reachable from ``source`` by some role with the right data."""
    return frozenset(target for (src, target) in _TABLE if src == source)


def _missing(rule: Rule, ctx: TransitionContext) -> frozenset[Requirement]:
    checks = {
        Requirement.LEAD_TECHNICIAN: ctx.has_lead_technician,
        Requirement.SCHEDULE: ctx.has_schedule,
        Requirement.RESOLUTION_SUMMARY: bool(
            ctx.resolution_summary and ctx.resolution_summary.strip()
        ),
        Requirement.HOLD_REASON: ctx.hold_reason in HOLD_REASONS,
        Requirement.REASON: bool(ctx.reason and ctx.reason.strip()),
        # Office roles act on behalf of the technician; only technicians must be assigned.
        Requirement.ASSIGNEE: ctx.role is not Role.TECHNICIAN or ctx.actor_is_assignee,
    }
    return frozenset(req for req in rule.requires if not checks[req])


def decide(source: Status, target: Status, ctx: TransitionContext) -> Decision:
    """Check one transition against the table: edge, then role, then required data."""
    rules = _TABLE.get((source, target))
    if not rules:
        return Decision(False, "invalid_transition")
    by_role = [rule for rule in rules if ctx.role in rule.roles]
    if not by_role:
        return Decision(False, "transition_forbidden_for_role")
    best: frozenset[Requirement] | None = None
    for rule in by_role:
        missing = _missing(rule, ctx)
        if not missing:
            return Decision(True, effects=rule.effects)
        if best is None or len(missing) < len(best):
            best = missing
    assert best is not None
    if Requirement.ASSIGNEE in best:
        return Decision(False, "not_assigned_to_order", best)
    return Decision(False, "transition_requirements_missing", best)


# --- Field edits outside transitions ----------------------------------------------------
# Assignment and schedule are the planners' (as the SCHEDULED rules say), and from
# "scheduled" on an order must keep both. Changing the lead of an order the technician
# has not started resets it to "scheduled" (the new lead must be dispatched and accept);
# while someone is on site it is refused (put it on hold first).
PLANNING_FIELDS = frozenset(
    {"lead_technician_id", "helper_ids", "scheduled_start", "scheduled_end"}
)
NEEDS_ASSIGNMENT = frozenset(
    {Status.SCHEDULED, Status.DISPATCHED, Status.ACCEPTED, Status.EN_ROUTE, Status.ON_SITE}
)
REASSIGN_RESETS = frozenset({Status.DISPATCHED, Status.ACCEPTED, Status.EN_ROUTE})
REASSIGN_REFUSED = frozenset({Status.ON_SITE})
FROZEN = frozenset({Status.CLOSED, Status.CANCELLED})


@dataclass(frozen=True)
class EditDecision:
    """Whether a set of field edits is allowed, and the status it forces (if any)."""

    allowed: bool
    code: str | None = None
    reset_to: Status | None = None


def decide_edit(
    status: Status,
    role: Role,
    fields_changed: frozenset[str],
    *,
    lead_after: bool,
    schedule_after: bool,
    lead_changed: bool,
) -> EditDecision:
    """Check edits of an order's fields (PATCH, or data riding on a transition)."""
    if status in FROZEN:
        return EditDecision(False, "order_closed")
    planning = fields_changed & PLANNING_FIELDS
    if planning and role not in PLANNERS:
        return EditDecision(False, "planning_forbidden_for_role")
    if status in NEEDS_ASSIGNMENT and not (lead_after and schedule_after):
        return EditDecision(False, "assignment_required")
    if lead_changed and status in REASSIGN_REFUSED:
        return EditDecision(False, "order_in_progress")
    if lead_changed and status in REASSIGN_RESETS:
        return EditDecision(True, reset_to=Status.SCHEDULED)
    return EditDecision(True)
