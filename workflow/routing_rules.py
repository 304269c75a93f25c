"""Routing rules: validation and evaluation of ordered condition/action rules (pure Python).

A rule is ``conditions`` (all must hold) and ``actions`` (applied in order when it
matches). Rules run once each, in list order, over one mutable set of facts, so a later
rule sees what earlier rules set (a rule on ``category`` can follow the one setting it)
and evaluation always terminates.

What is refused when rules are saved (each error carries a stable code):

- ``unknown_rule_field`` / ``unknown_rule_op`` / ``unknown_rule_action``: vocabulary.
- ``invalid_rule_value``: a value of the wrong type, empty, too long, or not one of the
  allowed values (channel, priority, tier, warranty).
- ``rule_contradiction``: one rule setting the same field to two different values, or
  both assigning a technician and declaring the order not field work (``no_dispatch``).
- ``rule_loop``: a cycle among active rules in the "writes a field the other reads"
  graph: A writes X and B reads X is an edge A -> B; A reads Y, B writes Y closes the
  cycle. Whatever order such rules are in, one of them acts on a value another rule
  changes afterwards, so the outcome would depend on evaluating the list again and
  again. A rule reading and writing the same field (a rewrite) is not a loop.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Condition fields and the operators each accepts.
TEXT_OPS = ("contains_any", "contains_none")
SCALAR_OPS = ("equals", "not_equals", "in", "not_in")
LIST_OPS = ("contains_any", "contains_none")
FIELDS: dict[str, tuple[str, ...]] = {
    "text": TEXT_OPS,
    "channel": SCALAR_OPS,
    "category": SCALAR_OPS,
    "customer_tier": SCALAR_OPS,
    "equipment_model": SCALAR_OPS,
    "warranty": SCALAR_OPS,
    "territory": SCALAR_OPS,
    "priority": SCALAR_OPS,
    "support_tier": SCALAR_OPS,
    "team_queue": SCALAR_OPS,
    "tags": LIST_OPS,
}
WARRANTY = ("in", "out", "none")

# Action -> the fact it writes (None: writes no condition field).
ACTIONS: dict[str, str | None] = {
    "set_category": "category",
    "set_priority": "priority",
    "set_support_tier": "support_tier",
    "set_required_skills": None,
    "route_to_queue": "team_queue",
    "add_tag": "tags",
    "assign_technician": None,
    "no_dispatch": None,
    "stop": None,
}
# Actions whose value is ignored (they take none).
FLAG_ACTIONS = ("no_dispatch", "stop")

MAX_CONDITIONS = 20
MAX_ACTIONS = 20
MAX_VALUES = 50
MAX_STRING = 100
MAX_TAGS = 20
MAX_TAG = 40
MAX_SKILL_LEVEL = 5


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a rule: a stable code, where, and a readable message."""

    code: str
    path: str
    message: str


@dataclass(frozen=True)
class Condition:
    """``field op value``; list operators hold a tuple of lower-cased strings."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Action:
    """One effect of a matching rule."""

    action: str
    value: Any = None


@dataclass(frozen=True)
class Rule:
    """A validated rule, ready to evaluate."""

    id: str
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]

    @property
    def reads(self) -> frozenset[str]:
        """Facts its conditions look at."""
        return frozenset(c.field for c in self.conditions)

    @property
    def writes(self) -> frozenset[str]:
        """Facts its actions change."""
        return frozenset(w for a in self.actions if (w := ACTIONS[a.action]) is not None)


@dataclass
class Outcome:
    """What the rules did: final facts, fired rules, and actions skipped at run time."""

    facts: dict[str, Any]
    fired: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    stopped_by: str | None = None


class RuleError(ValueError):
    """A rule (or rule set) is invalid; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @property
    def code(self) -> str:
        """The code of the first problem (clients switch on it)."""
        return self.problems[0].code


# --- parsing and validation -----------------------------------------------------------


def _string(value: Any, max_length: int = MAX_STRING) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= max_length:
        return value.strip()
    return None


def _strings(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        return None
    items = [_string(v) for v in value]
    if any(i is None for i in items):
        return None
    return tuple(dict.fromkeys(i.casefold() for i in items if i is not None))


def _parse_condition(
    raw: Any, path: str, vocab: Mapping[str, Collection[str]], problems: list[RuleProblem]
) -> Condition | None:
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem("invalid_rule_value", path, "A condition is an object."))
        return None
    name, op, value = raw.get("field"), raw.get("op"), raw.get("value")
    if name not in FIELDS:
        problems.append(
            RuleProblem(
                "unknown_rule_field",
                f"{path}.field",
                f"Unknown condition field {name!r}; known: {', '.join(FIELDS)}.",
            )
        )
        return None
    if op not in FIELDS[name]:
        problems.append(
            RuleProblem(
                "unknown_rule_op",
                f"{path}.op",
                f"Field {name!r} has no operator {op!r}; use one of {', '.join(FIELDS[name])}.",
            )
        )
        return None
    allowed = vocab.get(name)
    if op in ("equals", "not_equals"):
        parsed: Any = None if value is None else _string(value)
        if value is not None and parsed is None:
            problems.append(
                RuleProblem("invalid_rule_value", f"{path}.value", "Expected a string or null.")
            )
            return None
        parsed = None if parsed is None else parsed.casefold()
        values: tuple[str, ...] = () if parsed is None else (parsed,)
    else:
        values_or_none = _strings(value)
        if values_or_none is None:
            problems.append(
                RuleProblem(
                    "invalid_rule_value",
                    f"{path}.value",
                    f"Expected a list of 1-{MAX_VALUES} non-blank strings of at most "
                    f"{MAX_STRING} characters.",
                )
            )
            return None
        values = values_or_none
        parsed = values
    if allowed is not None:
        bad = [v for v in values if v not in {a.casefold() for a in allowed}]
        if bad:
            problems.append(
                RuleProblem(
                    "invalid_rule_value",
                    f"{path}.value",
                    f"Not a valid {name}: {', '.join(bad)}; use {', '.join(allowed)}.",
                )
            )
            return None
    return Condition(field=name, op=op, value=parsed)


def _skills_value(value: Any) -> tuple[tuple[str, int], ...] | None:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        return None
    result: dict[str, int] = {}
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"skill", "min_level"}:
            return None
        code = _string(item.get("skill"), 64)
        level = item.get("min_level", 1)
        if code is None or isinstance(level, bool) or not isinstance(level, int):
            return None
        if not 1 <= level <= MAX_SKILL_LEVEL or code in result:
            return None
        result[code] = level
    return tuple(result.items())


def _parse_action(
    raw: Any, path: str, vocab: Mapping[str, Collection[str]], problems: list[RuleProblem]
) -> Action | None:
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem("invalid_rule_value", path, "An action is an object."))
        return None
    name, value = raw.get("action"), raw.get("value")
    if name not in ACTIONS:
        problems.append(
            RuleProblem(
                "unknown_rule_action",
                f"{path}.action",
                f"Unknown action {name!r}; known: {', '.join(ACTIONS)}.",
            )
        )
        return None
    bad = RuleProblem("invalid_rule_value", f"{path}.value", f"Invalid value for {name}.")
    parsed: Any
    if name in FLAG_ACTIONS:
        parsed = None
    elif name == "set_required_skills":
        parsed = _skills_value(value)
    elif name == "assign_technician":
        try:
            parsed = str(uuid.UUID(value)) if isinstance(value, str) else None
        except ValueError:
            parsed = None
    elif name == "route_to_queue":
        parsed = _string(value, 64)
    elif name == "add_tag":
        parsed = _string(value, MAX_TAG)
    else:  # set_category, set_priority, set_support_tier
        parsed = _string(value, 64)
        fact = ACTIONS[name]
        allowed = vocab.get(fact or "")
        if parsed is not None and allowed is not None and parsed not in allowed:
            bad = RuleProblem(
                "invalid_rule_value",
                f"{path}.value",
                f"Not a valid {fact}: {parsed!r}; use {', '.join(allowed)}.",
            )
            parsed = None
    if parsed is None and name not in FLAG_ACTIONS:
        problems.append(bad)
        return None
    return Action(action=name, value=parsed)


def _contradictions(actions: Sequence[Action], path: str) -> list[RuleProblem]:
    problems = []
    seen: dict[str, Any] = {}
    for a in actions:
        if a.action in ("add_tag", "stop", "no_dispatch"):
            continue
        if a.action in seen and seen[a.action] != a.value:
            problems.append(
                RuleProblem(
                    "rule_contradiction",
                    path,
                    f"The rule does {a.action} twice with different values.",
                )
            )
        seen[a.action] = a.value
    kinds = {a.action for a in actions}
    dispatching = kinds & {"assign_technician", "set_required_skills"}
    if "no_dispatch" in kinds and dispatching:
        problems.append(
            RuleProblem(
                "rule_contradiction",
                path,
                f"no_dispatch (not field work) contradicts {', '.join(sorted(dispatching))}.",
            )
        )
    return problems


def parse_rule(
    *,
    rule_id: str,
    name: str,
    conditions: Any,
    actions: Any,
    vocab: Mapping[str, Collection[str]],
) -> Rule:
    """Validate one rule's JSON; raises RuleError listing every problem found.

    ``vocab`` maps a fact (channel, priority, support_tier, ...) to its allowed values.
    """
    problems: list[RuleProblem] = []
    parsed_conditions: list[Condition] = []
    parsed_actions: list[Action] = []
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        problems.append(
            RuleProblem("invalid_rule_value", "conditions", f"At most {MAX_CONDITIONS} conditions.")
        )
        conditions = []
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        problems.append(
            RuleProblem("invalid_rule_value", "actions", f"1 to {MAX_ACTIONS} actions.")
        )
        actions = []
    for i, raw in enumerate(conditions):
        c = _parse_condition(raw, f"conditions.{i}", vocab, problems)
        if c is not None:
            parsed_conditions.append(c)
    for i, raw in enumerate(actions):
        a = _parse_action(raw, f"actions.{i}", vocab, problems)
        if a is not None:
            parsed_actions.append(a)
    problems.extend(_contradictions(parsed_actions, "actions"))
    if problems:
        raise RuleError(problems)
    return Rule(
        id=rule_id,
        name=name,
        conditions=tuple(parsed_conditions),
        actions=tuple(parsed_actions),
    )


def find_loop(rules: Sequence[Rule]) -> list[Rule] | None:
    """A cycle of rules feeding each other's conditions (see the module doc), or None."""
    # Edge a -> b: a writes a fact b reads (self-edges are rewrites, not loops).
    edges = {r.id: [o for o in rules if o.id != r.id and r.writes & o.reads] for r in rules}
    white, grey, black = 0, 1, 2
    colour = {r.id: white for r in rules}
    for start in rules:
        if colour[start.id] != white:
            continue
        # Iterative DFS keeping the current path, so the cycle can be reported.
        path: list[Rule] = [start]
        iters = [iter(edges[start.id])]
        colour[start.id] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop().id] = black
                iters.pop()
                continue
            if colour[nxt.id] == grey:
                return path[[r.id for r in path].index(nxt.id) :]
            if colour[nxt.id] == white:
                colour[nxt.id] = grey
                path.append(nxt)
                iters.append(iter(edges[nxt.id]))
    return None


def check_rule_set(rules: Sequence[Rule]) -> None:
    """Raise RuleError(rule_loop) when the active rules form a cycle."""
    loop = find_loop(rules)
    if loop is None:
        return
    names = " -> ".join(r.name for r in [*loop, loop[0]])
    fields_ = []
    for a, b in zip(loop, [*loop[1:], loop[0]], strict=True):
        fields_.append(
            f"{a.name!r} writes {', '.join(sorted(a.writes & b.reads))} read by {b.name!r}"
        )
    raise RuleError(
        [
            RuleProblem(
                "rule_loop",
                "rules",
                f"Rules feed each other's conditions in a cycle ({names}): {'; '.join(fields_)}.",
            )
        ]
    )


# --- evaluation -----------------------------------------------------------------------


def warranty_status(warranty_end: dt.date | None, today: dt.date) -> str:
    """'in' while today is on or before the end date, 'out' after it, 'none' without one."""
    if warranty_end is None:
        return "none"
    return "in" if today <= warranty_end else "out"


def _scalar_values(name: str, facts: Mapping[str, Any]) -> set[str | None]:
    """The fact as comparable lower-case values (territory: its id and its code)."""
    raw = facts.get(name)
    values = raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
    result: set[str | None] = set()
    for v in values:
        result.add(None if v is None else str(v).casefold())
    return result or {None}


def condition_holds(condition: Condition, facts: Mapping[str, Any]) -> bool:
    """Whether one condition holds for these facts (string comparison ignores case)."""
    op, value = condition.op, condition.value
    if condition.field == "text":
        # Substring, not word match: keywords in Chinese have no spaces around them.
        text = str(facts.get("text") or "").casefold()
        hit = any(k in text for k in value)
        return hit if op == "contains_any" else not hit
    if condition.field == "tags":
        tags = {str(t).casefold() for t in facts.get("tags") or []}
        hit = bool(tags & set(value))
        return hit if op == "contains_any" else not hit
    have = _scalar_values(condition.field, facts)
    if op == "equals":
        return value in have
    if op == "not_equals":
        return value not in have
    if op == "in":
        return bool(have & set(value))
    return not have & set(value)  # not_in


def _apply(action: Action, facts: dict[str, Any], outcome: Outcome, rule: Rule) -> None:
    name, value = action.action, action.value
    if name in ("assign_technician", "set_required_skills") and facts.get("no_dispatch"):
        # An earlier rule said this is not field work (e.g. a refund for finance).
        outcome.skipped.append({"rule_id": rule.id, "action": name, "reason": "no_dispatch"})
        return
    if name == "assign_technician" and facts.get("lead_technician_id"):
        # Auto-assignment fills a gap; it never replaces a lead someone chose.
        outcome.skipped.append({"rule_id": rule.id, "action": name, "reason": "already_assigned"})
        return
    if name == "set_required_skills":
        facts["required_skills"] = [{"skill": s, "min_level": lvl} for s, lvl in value]
    elif name == "assign_technician":
        facts["lead_technician_id"] = value
    elif name == "no_dispatch":
        facts["no_dispatch"] = True
        facts["required_skills"] = []
        facts["lead_technician_id"] = None
    elif name == "add_tag":
        tags = list(facts.get("tags") or [])
        if value.casefold() not in {t.casefold() for t in tags} and len(tags) < MAX_TAGS:
            tags.append(value)
        facts["tags"] = tags
    elif name != "stop":
        facts[ACTIONS[name] or name] = value


def evaluate(rules: Sequence[Rule], facts: Mapping[str, Any]) -> Outcome:
    """Run the rules in order over a copy of the facts; each rule fires at most once."""
    outcome = Outcome(facts=dict(facts))
    for rule in rules:
        if not all(condition_holds(c, outcome.facts) for c in rule.conditions):
            continue
        for action in rule.actions:
            _apply(action, outcome.facts, outcome, rule)
        outcome.fired.append(
            {
                "id": rule.id,
                "name": rule.name,
                "actions": [a.action for a in rule.actions],
            }
        )
        if any(a.action == "stop" for a in rule.actions):
            outcome.stopped_by = rule.id
            break
    return outcome
