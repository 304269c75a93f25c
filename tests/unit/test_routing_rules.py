"""The routing-rule engine: validation codes, evaluation order, stop, every condition field,
Chinese keywords, no_dispatch, and static loop detection."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from workflow import routing_rules as rr

VOCAB = {
    "channel": ("phone", "email", "web", "qr", "api", "preventive", "mobile"),
    "priority": ("low", "normal", "high", "urgent"),
    "support_tier": ("L1", "L2", "L3"),
    "warranty": rr.WARRANTY,
}
TECH = "7d4c1c62-3c3f-4b43-9a57-1f0a3e4f1b11"


def rule(name: str, conditions: list[Any], actions: list[Any]) -> rr.Rule:
    return rr.parse_rule(
        rule_id=name, name=name, conditions=conditions, actions=actions, vocab=VOCAB
    )


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def act(action: str, value: Any = None) -> dict[str, Any]:
    return {"action": action, "value": value}


def facts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "text": "",
        "channel": "api",
        "category": None,
        "priority": "normal",
        "support_tier": "L2",
        "team_queue": None,
        "tags": [],
        "customer_tier": "standard",
        "equipment_model": None,
        "warranty": "none",
        "territory": None,
        "required_skills": [],
        "lead_technician_id": None,
        "no_dispatch": False,
    }
    base.update(overrides)
    return base


def problem_codes(conditions: list[Any], actions: list[Any]) -> list[str]:
    with pytest.raises(rr.RuleError) as exc:
        rule("r", conditions, actions)
    return [p.code for p in exc.value.problems]


FINANCE = rule(
    "finance",
    [cond("text", "contains_any", ["退款", "Refund"])],
    [
        act("route_to_queue", "finance"),
        act("add_tag", "refund"),
        act("set_support_tier", "L1"),
        act("no_dispatch"),
    ],
)
AUTO_ASSIGN = rule("auto", [], [act("assign_technician", TECH)])


# --- validation ---------------------------------------------------------------------------


def test_unknown_field_op_action_are_named() -> None:
    assert problem_codes([cond("colour", "equals", "red")], [act("stop")]) == ["unknown_rule_field"]
    assert problem_codes([cond("text", "equals", "x")], [act("stop")]) == ["unknown_rule_op"]
    assert problem_codes([], [act("launch_rocket", 1)]) == ["unknown_rule_action"]


def test_every_problem_is_reported_at_once() -> None:
    codes = problem_codes(
        [cond("colour", "equals", "x"), cond("channel", "equals", "fax")],
        [act("set_priority", "sky-high"), act("explode")],
    )
    assert codes == [
        "unknown_rule_field",
        "invalid_rule_value",
        "invalid_rule_value",
        "unknown_rule_action",
    ]


@pytest.mark.parametrize(
    "condition",
    [
        cond("text", "contains_any", []),
        cond("text", "contains_any", "refund"),
        cond("text", "contains_any", ["  "]),
        cond("text", "contains_any", ["x" * 101]),
        cond("tags", "contains_any", [1]),
        cond("channel", "in", ["email", "fax"]),
        cond("warranty", "equals", "maybe"),
        cond("priority", "equals", 3),
    ],
)
def test_bad_condition_values(condition: dict[str, Any]) -> None:
    assert problem_codes([condition], [act("stop")]) == ["invalid_rule_value"]


@pytest.mark.parametrize(
    "action",
    [
        act("set_priority", "critical"),
        act("set_support_tier", "L9"),
        act("route_to_queue", ""),
        act("route_to_queue", None),
        act("add_tag", "t" * 41),
        act("assign_technician", "not-a-uuid"),
        act("assign_technician", 12),
        act("set_required_skills", [{"skill": "hvac", "min_level": 9}]),
        act("set_required_skills", [{"skill": "hvac"}, {"skill": "hvac"}]),
        act("set_required_skills", [{"skill": "hvac", "min_level": True}]),
        act("set_required_skills", [{"skill": "hvac", "extra": 1}]),
    ],
)
def test_bad_action_values(action: dict[str, Any]) -> None:
    assert problem_codes([], [action]) == ["invalid_rule_value"]


def test_a_rule_needs_an_action() -> None:
    assert problem_codes([], []) == ["invalid_rule_value"]


def test_contradictions_inside_one_rule() -> None:
    assert problem_codes([], [act("set_priority", "high"), act("set_priority", "low")]) == [
        "rule_contradiction"
    ]
    assert problem_codes([], [act("no_dispatch"), act("assign_technician", TECH)]) == [
        "rule_contradiction"
    ]
    # The same value twice is redundant, not contradictory.
    rule("ok", [], [act("set_priority", "high"), act("set_priority", "high")])


# --- evaluation -----------------------------------------------------------------------------


def test_chinese_and_english_keywords_match_as_substrings() -> None:
    zh = rr.evaluate([FINANCE], facts(text="您好，我要申请退款，谢谢"))
    en = rr.evaluate([FINANCE], facts(text="Please REFUND my deposit"))
    none = rr.evaluate([FINANCE], facts(text="电梯门关不上 door will not close"))
    assert [f["id"] for f in zh.fired] == ["finance"]
    assert [f["id"] for f in en.fired] == ["finance"]
    assert none.fired == []
    assert zh.facts["team_queue"] == "finance"
    assert zh.facts["tags"] == ["refund"] and zh.facts["support_tier"] == "L1"


def test_finance_route_is_never_auto_assigned_afterwards() -> None:
    out = rr.evaluate(
        [FINANCE, AUTO_ASSIGN],
        facts(text="退款", lead_technician_id=TECH, required_skills=[{"skill": "x"}]),
    )
    assert out.facts["lead_technician_id"] is None
    assert out.facts["required_skills"] == []
    assert out.facts["no_dispatch"] is True
    assert out.skipped == [
        {"rule_id": "auto", "action": "assign_technician", "reason": "no_dispatch"}
    ]


def test_auto_assign_fills_a_gap_but_keeps_a_chosen_lead() -> None:
    assert rr.evaluate([AUTO_ASSIGN], facts()).facts["lead_technician_id"] == TECH
    chosen = "00000000-0000-0000-0000-000000000001"
    out = rr.evaluate([AUTO_ASSIGN], facts(lead_technician_id=chosen))
    assert out.facts["lead_technician_id"] == chosen
    assert out.skipped[0]["reason"] == "already_assigned"


def test_order_matters_and_later_rules_see_earlier_effects() -> None:
    categorise = rule(
        "categorise", [cond("text", "contains_any", ["leak"])], [act("set_category", "plumbing")]
    )
    on_category = rule(
        "plumbers", [cond("category", "equals", "Plumbing")], [act("route_to_queue", "plumbers")]
    )
    out = rr.evaluate([categorise, on_category], facts(text="water leak"))
    assert [f["id"] for f in out.fired] == ["categorise", "plumbers"]
    assert out.facts["team_queue"] == "plumbers"
    # Reversed, the category rule has already been looked at when the category appears.
    out = rr.evaluate([on_category, categorise], facts(text="water leak"))
    assert [f["id"] for f in out.fired] == ["categorise"]
    assert out.facts["team_queue"] is None


def test_stop_ends_evaluation_and_last_writer_wins_otherwise() -> None:
    high = rule("high", [], [act("set_priority", "high")])
    stop = rule("stop", [cond("channel", "equals", "phone")], [act("stop")])
    low = rule("low", [], [act("set_priority", "low")])
    phone = rr.evaluate([high, stop, low], facts(channel="phone"))
    assert phone.facts["priority"] == "high" and phone.stopped_by == "stop"
    web = rr.evaluate([high, stop, low], facts(channel="web"))
    assert web.facts["priority"] == "low" and web.stopped_by is None
    assert [f["id"] for f in web.fired] == ["high", "low"]


def test_each_rule_fires_at_most_once() -> None:
    tagger = rule("t", [cond("tags", "contains_none", ["x"])], [act("add_tag", "y")])
    out = rr.evaluate([tagger], facts())
    assert out.facts["tags"] == ["y"] and len(out.fired) == 1


@pytest.mark.parametrize(
    "condition,matching,other",
    [
        (cond("channel", "equals", "email"), {"channel": "email"}, {"channel": "phone"}),
        (cond("channel", "not_equals", "email"), {"channel": "qr"}, {"channel": "email"}),
        (cond("category", "in", ["hvac", "lift"]), {"category": "LIFT"}, {"category": None}),
        (cond("category", "equals", None), {"category": None}, {"category": "lift"}),
        (cond("customer_tier", "in", ["gold"]), {"customer_tier": "gold"}, {}),
        (cond("customer_tier", "not_in", ["gold"]), {}, {"customer_tier": "gold"}),
        (cond("equipment_model", "equals", "Gen2"), {"equipment_model": "gen2"}, {}),
        (cond("warranty", "equals", "in"), {"warranty": "in"}, {"warranty": "out"}),
        (cond("warranty", "in", ["out", "none"]), {"warranty": "none"}, {"warranty": "in"}),
        (
            cond("territory", "equals", "PUDONG"),
            {"territory": ["0f3c2a1e-0000-0000-0000-000000000000", "pudong"]},
            {"territory": None},
        ),
        (
            cond("territory", "in", ["0f3c2a1e-0000-0000-0000-000000000000"]),
            {"territory": ["0f3c2a1e-0000-0000-0000-000000000000", "PD"]},
            {"territory": ["1a1a1a1a-0000-0000-0000-000000000000", "PX"]},
        ),
        (cond("priority", "in", ["high", "urgent"]), {"priority": "urgent"}, {}),
        (cond("support_tier", "equals", "L1"), {"support_tier": "L1"}, {}),
        (cond("team_queue", "equals", "finance"), {"team_queue": "finance"}, {}),
        (cond("tags", "contains_any", ["VIP"]), {"tags": ["vip", "x"]}, {"tags": ["x"]}),
        (cond("tags", "contains_none", ["vip"]), {"tags": []}, {"tags": ["VIP"]}),
        (cond("text", "contains_none", ["test"]), {"text": "real"}, {"text": "a TEST"}),
    ],
)
def test_every_condition_field(
    condition: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    parsed = rule("r", [condition], [act("add_tag", "hit")]).conditions[0]
    assert rr.condition_holds(parsed, facts(**matching)) is True
    assert rr.condition_holds(parsed, facts(**other)) is False


def test_all_conditions_must_hold() -> None:
    both = rule(
        "both",
        [cond("channel", "equals", "email"), cond("customer_tier", "equals", "gold")],
        [act("set_priority", "high")],
    )
    assert rr.evaluate([both], facts(channel="email", customer_tier="gold")).fired
    assert not rr.evaluate([both], facts(channel="email")).fired


def test_required_skills_and_tags_are_bounded() -> None:
    skills = rule("s", [], [act("set_required_skills", [{"skill": "hvac", "min_level": 3}])])
    assert rr.evaluate([skills], facts()).facts["required_skills"] == [
        {"skill": "hvac", "min_level": 3}
    ]
    full = facts(tags=[f"t{i}" for i in range(rr.MAX_TAGS)])
    assert len(rr.evaluate([rule("t", [], [act("add_tag", "new")])], full).facts["tags"]) == 20
    dup = rr.evaluate([rule("t", [], [act("add_tag", "VIP")])], facts(tags=["vip"]))
    assert dup.facts["tags"] == ["vip"]


def test_warranty_status_boundaries() -> None:
    today = dt.date(2026, 12, 7)
    assert rr.warranty_status(None, today) == "none"
    assert rr.warranty_status(today, today) == "in"
    assert rr.warranty_status(today - dt.timedelta(days=1), today) == "out"


# --- loops ----------------------------------------------------------------------------------


def test_two_rules_feeding_each_other_are_a_loop() -> None:
    a = rule("A", [cond("category", "equals", "x")], [act("set_priority", "high")])
    b = rule("B", [cond("priority", "equals", "high")], [act("set_category", "x")])
    with pytest.raises(rr.RuleError) as exc:
        rr.check_rule_set([a, b])
    assert exc.value.code == "rule_loop"
    assert "'A' writes priority read by 'B'" in str(exc.value)
    assert "'B' writes category read by 'A'" in str(exc.value)
    # Whatever the order: the cycle is in the data flow, not in the list.
    with pytest.raises(rr.RuleError):
        rr.check_rule_set([b, a])


def test_longer_cycles_are_found_and_chains_are_not_loops() -> None:
    a = rule("A", [cond("tags", "contains_any", ["a"])], [act("set_category", "c")])
    b = rule("B", [cond("category", "equals", "c")], [act("route_to_queue", "q")])
    c = rule("C", [cond("team_queue", "equals", "q")], [act("add_tag", "a")])
    loop = rr.find_loop([a, b, c])
    assert loop is not None and {r.id for r in loop} == {"A", "B", "C"}
    assert rr.find_loop([a, b]) is None
    rr.check_rule_set([a, b, FINANCE, AUTO_ASSIGN])


def test_rewriting_the_field_a_rule_reads_is_not_a_loop() -> None:
    rewrite = rule("R", [cond("category", "equals", "lift")], [act("set_category", "elevator")])
    assert rr.find_loop([rewrite]) is None
