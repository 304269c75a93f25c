"""The lifecycle table on its own: reachability, requirements, roles (no database)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workflow.lifecycle import (
    RULES,
    Role,
    Status,
    TransitionContext,
    allowed_targets,
    decide,
)


def reachable_from(start: Status) -> set[Status]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in allowed_targets(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_status_is_reachable_from_new() -> None:
    assert reachable_from(Status.NEW) == set(Status)


def test_cancelled_is_final_and_closed_only_reopens() -> None:
    assert allowed_targets(Status.CANCELLED) == frozenset()
    assert allowed_targets(Status.CLOSED) == {Status.REOPENED}


def test_on_site_cannot_be_cancelled_only_put_on_hold() -> None:
    # Work already begun on site must be completed or held, never silently dropped.
    assert Status.CANCELLED not in allowed_targets(Status.ON_SITE)
    assert Status.ON_HOLD in allowed_targets(Status.ON_SITE)


def test_no_rule_loops_to_its_own_source() -> None:
    assert all(rule.target not in rule.sources for rule in RULES)


def test_technician_must_be_assignee() -> None:
    ctx = TransitionContext(role=Role.TECHNICIAN, actor_is_assignee=False)
    d = decide(Status.DISPATCHED, Status.ACCEPTED, ctx)
    assert not d.allowed and d.code == "not_assigned_to_order"
    ok = decide(
        Status.DISPATCHED,
        Status.ACCEPTED,
        TransitionContext(role=Role.TECHNICIAN, actor_is_assignee=True),
    )
    assert ok.allowed


def test_agent_cannot_schedule() -> None:
    ctx = TransitionContext(role=Role.AGENT, has_lead_technician=True, has_schedule=True)
    assert decide(Status.TRIAGED, Status.SCHEDULED, ctx).code == "transition_forbidden_for_role"


def test_blank_texts_do_not_satisfy_requirements() -> None:
    ctx = TransitionContext(role=Role.TECHNICIAN, actor_is_assignee=True, resolution_summary="   ")
    d = decide(Status.ON_SITE, Status.COMPLETED, ctx)
    assert not d.allowed and {m.value for m in d.missing} == {"resolution_summary"}


contexts = st.builds(
    TransitionContext,
    role=st.sampled_from(list(Role)),
    has_lead_technician=st.booleans(),
    has_schedule=st.booleans(),
    actor_is_assignee=st.booleans(),
    resolution_summary=st.one_of(st.none(), st.text(max_size=5)),
    hold_reason=st.one_of(st.none(), st.sampled_from(["parts", "customer", "bogus"])),
    reason=st.one_of(st.none(), st.text(max_size=5)),
)


@given(st.lists(st.tuples(st.sampled_from(list(Status)), contexts), max_size=60))
def test_random_sequences_stay_inside_the_graph(
    steps: list[tuple[Status, TransitionContext]],
) -> None:
    status = Status.NEW
    for target, ctx in steps:
        decision = decide(status, target, ctx)
        if decision.allowed:
            assert target in allowed_targets(status)
            status = target
        else:
            assert decision.code in {
                "invalid_transition",
                "transition_forbidden_for_role",
                "not_assigned_to_order",
                "transition_requirements_missing",
            }
        assert isinstance(status, Status)
