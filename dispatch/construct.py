"""A first plan without OR-Tools: regret insertion, vectorised over every position.

OR-Tools' own construction (parallel cheapest insertion) needs seconds for a 500-job day
and none finishes a 1,000-job day in ten; this one builds a comparable plan in a fraction
of that and the solver hands it to OR-Tools (ReadAssignmentFromRoutes) to improve.

The schedule follows the routing model's rules exactly, so every plan built here is one the
model accepts: a visit starts inside one of its windows (or at its locked start) after the
drive from the previous stop; breaks and bookings fall between visits and may interrupt a
drive (the model only asks that the gap holds drive plus breaks); a day starts no earlier
than the vehicle's earliest time and ends by shift end plus allowed overtime; jobs, work
seconds (driving plus service) and load per day are capped. Costs are the model's as well:
travel, lateness past the SLA, overtime, work above the fair share, moving a planned job,
and the drop penalty of a job left out, so a job goes in only when that is cheaper.
On request (`eject`, the solver's recreate steps) jobs left out then take the place of
visits that move to another day or, when worth less, go out (see _eject).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dispatch.model import PRIORITY_WEIGHT, Booking, Job, Problem, Shift

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Far beyond any horizon (30 days of seconds) yet safe to add a few times in int64.
INF = 2**50
NEG = -(2**50)
# Lead placements (or first days) tried per crew or multi-day job, cheapest first.
CREW_TRIES = 12
# Dropping a job under the distance objective: every job is as good as mandatory.
MANDATORY = 2**40
# Rounds of ejection moves after an insertion (each scores every visit x left-out job).
EJECT_PASSES = 4
# Schedules _repack may try for one append (a refresh each, ~0.2 ms): one lunch break over
# ten visits is 12, two pauses 78; a day full of bookings is left as it is.
REPACK_MAX = 200


class NodeLike(Protocol):
    """What the construction reads from one routing node (solver._Node)."""

    job: int
    part: int
    role: str
    duration: int
    allowed: list[int]


class VehicleLike(Protocol):
    """What the construction reads from one routing vehicle (solver._Vehicle)."""

    tech: int
    shift: Shift
    earliest: int


@dataclass(frozen=True)
class Pause:
    """A break or booking inside one day: it must start in [lo, hi] and lasts `duration`."""

    lo: int
    hi: int
    duration: int
    booking: bool


def day_pauses(shift: Shift, bookings: Sequence[Booking], earliest: int) -> list[Pause]:
    """The breaks and bookings one vehicle must fit in, as the routing model states them."""
    out: list[Pause] = []
    for brk in shift.breaks:
        lo = max(brk.earliest_start, earliest)
        # A break whose window has already passed is still owed: it is taken right away.
        out.append(Pause(lo, max(brk.latest_start, lo), brk.duration_s, False))
    for booking in bookings:
        if booking.end <= earliest or booking.start >= shift.end:
            continue
        start = max(booking.start, earliest)
        out.append(Pause(start, start, booking.end - start, True))
    # A route takes its pauses in this order, so it must be one a day can hold: latest
    # start first (a booking at 10:00 before a lunch break that may start until 13:30).
    # Breaks first, as this once was, left every technician with a morning booking (and
    # everyone busy at the time of an in-day re-optimisation) with no feasible route.
    out.sort(key=lambda p: (p.hi, p.lo))
    return out


def drop_penalty(job: Job, base: int) -> int:
    """Priority first; an SLA deadline makes a job dearer to drop."""
    factor = PRIORITY_WEIGHT[job.priority] * (2 if job.due_s is not None else 1)
    return base * factor


def _chain(pauses: Sequence[Pause]) -> tuple[int, int, int]:
    """Pauses taken in order between two stops, as (a, b, t_max).

    Leaving at t and driving d, the next stop is reached at max(t + d + a, b) and the
    pauses fit iff t <= t_max. Driving is pre-emptible (it fills any wait before a
    pause), which is how the routing model counts a gap: drive plus pauses must fit.
    """
    a, b, t_max = 0, NEG, INF
    for p in pauses:
        t_max = min(t_max, p.hi - a)
        if b > p.hi:
            t_max = NEG
        a += p.duration
        b = max(b, p.lo) + p.duration
    return a, b, t_max


@dataclass
class _Slots:
    """Every place a job can go in one route, struct-of-arrays for numpy."""

    gap: IntArray
    split: IntArray
    prev: IntArray
    next: IntArray
    dep: IntArray
    a1: IntArray
    b1: IntArray
    t1: IntArray
    a2: IntArray
    b2: IntArray
    t2: IntArray
    lst_next: IntArray
    start_next: IntArray
    d_prev_next: IntArray
    c_prev_next: FloatArray
    late_count: IntArray
    due_slack: IntArray


def _no_slots() -> _Slots:
    """No place at all, for a day whose pauses cannot all be fitted."""
    i = np.zeros(0, dtype=np.int64)
    return _Slots(i, i, i, i, i, i, i, i, i, i, i, i, i, i, np.zeros(0), i, i)


class _Route:
    """One vehicle's day being built: stops, the pauses in each gap, and derived times."""

    def __init__(self, builder: _Builder, vi: int) -> None:
        self.b = builder
        self.vi = vi
        self.nodes: list[int] = []
        self.chains: list[list[int]] = [list(range(len(builder.pauses[vi])))]
        self.end = 0
        self.work = 0
        self.load = 0
        self.starts: list[int] = []
        self.taken: list[tuple[int, int]] = []
        slots = self.refresh()
        # Pauses that cannot all fit (bookings over a break's whole window) leave the
        # vehicle with no slot at all; the model then keeps that day empty too.
        self.dead = slots is None
        self.slots = slots if slots is not None else _no_slots()

    def insert(self, node: int, gap: int, split: int) -> bool:
        """Put `node` after the gap's first `split` pauses (the rest follow it) if it fits."""
        saved = _save(self)
        chain = self.chains[gap]
        self.nodes.insert(gap, node)
        self.chains[gap] = chain[:split]
        self.chains.insert(gap + 1, chain[split:])
        slots = self.refresh()
        if slots is None:
            _restore(self, saved)
            return False
        self.slots = slots
        return True

    def remove(self, node: int) -> None:
        """Take a node out again; the pauses around it merge into one gap."""
        at = self.nodes.index(node)
        self.nodes.pop(at)
        self.chains[at] += self.chains.pop(at + 1)
        self.slots = self._refresh_or_fail()

    def _refresh_or_fail(self) -> _Slots:
        slots = self.refresh()
        if slots is None:  # undoing an insertion restores a route that fitted before
            raise AssertionError(f"route of vehicle {self.vi} is infeasible")
        return slots

    def refresh(self) -> _Slots | None:
        """Recompute times and slots; None when the route as it stands is infeasible."""
        b, vi = self.b, self.vi
        pauses = b.pauses[vi]
        locs = [b.start_loc[vi], *self.nodes, b.end_loc[vi]]
        k = len(self.nodes)
        chains = [_chain([pauses[i] for i in c]) for c in self.chains]
        dmat = b.dur_mat
        starts = [0] * (k + 2)
        deps = [0] * (k + 1)
        t = b.earliest[vi]
        starts[0] = t
        travel = 0
        taken: list[tuple[int, int]] = []
        for g in range(k + 1):
            a, bb, t_max = chains[g]
            if t > t_max:
                return None
            deps[g] = t
            # Pauses as early as they may start; the drive fills any wait before them.
            x = t
            for i in self.chains[g]:
                x = max(x, pauses[i].lo)
                taken.append((x, x + pauses[i].duration))
                x += pauses[i].duration
            leg = int(dmat[locs[g], locs[g + 1]])
            travel += leg
            arrival = max(t + leg + a, bb)
            if g == k:
                starts[k + 1] = arrival
                break
            node = locs[g + 1]
            s = b.window_start(node, arrival)
            if s is None:
                return None
            starts[g + 1] = s
            t = s + b.service[node]
        if starts[k + 1] > b.limit[vi]:
            return None
        self.end = starts[k + 1]
        self.starts = starts
        self.taken = taken
        lst = [0] * (k + 2)
        lst[k + 1] = b.limit[vi]
        for g in range(k, -1, -1):
            a, _, t_max = chains[g]
            latest_end = min(t_max, lst[g + 1] - int(dmat[locs[g], locs[g + 1]]) - a)
            if g == 0:
                lst[0] = latest_end
            else:
                node = locs[g]
                latest = b.window_latest(node, latest_end - b.service[node])
                if latest is None:
                    return None
                lst[g] = latest
        self.work = travel + sum(b.service[n] for n in self.nodes)
        self.load = sum(b.demand[n] for n in self.nodes)
        # Lateness of later SLA jobs, for the cost of pushing them: how many are late
        # already (each takes the whole push) and how much room the tightest one has left.
        late_count = [0] * (k + 2)
        due_slack = [INF] * (k + 2)
        for g in range(k, 0, -1):
            late_count[g] = late_count[g + 1]
            due_slack[g] = due_slack[g + 1]
            node = locs[g]
            due = b.due[node]
            if due < INF:
                over = starts[g] + b.service[node] - due
                if over > 0:
                    late_count[g] += 1
                else:
                    due_slack[g] = min(due_slack[g], -over)
        rows: list[tuple[int, ...]] = []
        for g in range(k + 1):
            chain = [pauses[i] for i in self.chains[g]]
            for s in range(len(chain) + 1):
                a1, b1, t1 = _chain(chain[:s])
                a2, b2, t2 = _chain(chain[s:])
                rows.append(
                    (
                        g,
                        s,
                        locs[g],
                        locs[g + 1],
                        deps[g],
                        a1,
                        b1,
                        t1,
                        a2,
                        b2,
                        t2,
                        lst[g + 1],
                        starts[g + 1],
                        int(dmat[locs[g], locs[g + 1]]),
                        late_count[g + 1],
                        due_slack[g + 1],
                    )
                )
        cols = np.array(rows, dtype=np.int64).T
        return _Slots(
            gap=cols[0],
            split=cols[1],
            prev=cols[2],
            next=cols[3],
            dep=cols[4],
            a1=cols[5],
            b1=cols[6],
            t1=cols[7],
            a2=cols[8],
            b2=cols[9],
            t2=cols[10],
            lst_next=cols[11],
            start_next=cols[12],
            d_prev_next=cols[13],
            c_prev_next=b.cost_mat[cols[2], cols[3]].astype(np.float64),
            late_count=cols[14],
            due_slack=cols[15],
        )


class _Builder:
    """Problem data as flat arrays indexed by routing node (jobs, then starts, then ends)."""

    def __init__(
        self,
        problem: Problem,
        nodes: Sequence[NodeLike],
        vehicles: Sequence[VehicleLike],
        durations: IntArray,
        costs: IntArray,
        field: bool,
    ) -> None:
        n, nv = len(nodes), len(vehicles)
        jobs, techs = problem.jobs, problem.technicians
        w = problem.weights
        self.n, self.nv = n, nv
        self.problem = problem
        self.dur_mat = durations
        self.cost_mat = costs
        size = n + 2 * nv
        self.service = [0] * size
        self.demand = [0] * size
        self.due = [INF] * size
        self.windows: list[list[tuple[int, int]]] = [[(NEG, INF)] for _ in range(size)]
        for ni, node in enumerate(nodes):
            job = jobs[node.job]
            self.service[ni] = node.duration
            self.demand[ni] = job.demand
            if field and job.due_s is not None:
                self.due[ni] = job.due_s
            if job.locked_start_s is not None:
                self.windows[ni] = [(job.locked_start_s, job.locked_start_s)]
            elif job.windows:
                self.windows[ni] = sorted((x.start, x.end) for x in job.windows)
        k_max = max(len(ws) for ws in self.windows)
        self.win_lo = np.full((size, k_max), INF, dtype=np.int64)
        self.win_hi = np.full((size, k_max), NEG, dtype=np.int64)
        for ni, ws in enumerate(self.windows):
            for k, (lo, hi) in enumerate(ws):
                self.win_lo[ni, k], self.win_hi[ni, k] = lo, hi
        self.service_arr = np.asarray(self.service, dtype=np.int64)
        self.due_arr = np.asarray(self.due, dtype=np.int64)
        self.start_loc = [n + v for v in range(nv)]
        self.end_loc = [n + nv + v for v in range(nv)]
        self.earliest = [v.earliest for v in vehicles]
        # Days end at shift end: the fast model allows no overtime (it would cost through
        # a soft bound); the full model's polish may still use it where it pays.
        self.limit = [v.shift.end for v in vehicles]
        self.pauses = [day_pauses(v.shift, techs[v.tech].bookings, v.earliest) for v in vehicles]
        self.max_jobs = [techs[v.tech].max_jobs_per_day or INF for v in vehicles]
        self.max_work = [techs[v.tech].max_work_s_per_day or INF for v in vehicles]
        self.capacity = [
            INF if techs[v.tech].capacity is None else int(techs[v.tech].capacity or 0)
            for v in vehicles
        ]
        self.w_late = float(w.lateness_per_s) if field else 0.0
        balance = field and w.balance_per_s > 0 and nv > 1
        self.w_balance = float(w.balance_per_s) if balance else 0.0
        self.fair = sum(node.duration for node in nodes) // max(1, nv)

    def window_start(self, node: int, arrival: int) -> int | None:
        """Earliest start at or after `arrival` inside the node's windows."""
        for lo, hi in self.windows[node]:
            if arrival <= hi:
                return max(arrival, lo)
        return None

    def window_latest(self, node: int, bound: int) -> int | None:
        """Latest start at or before `bound` inside the node's windows."""
        for lo, hi in reversed(self.windows[node]):
            if lo <= bound:
                return min(bound, hi)
        return None

    def evaluate(self, jobs: IntArray, route: _Route) -> tuple[FloatArray, IntArray, IntArray]:
        """Best cost, slot and added drive time of each job in one route (inf: no fit)."""
        cost, _, _, added = self.evaluate_all(jobs, route, latest=False)
        best = np.argmin(cost, axis=1)
        rows = np.arange(len(jobs))
        return cost[rows, best], best, added[rows, best]

    def evaluate_all(
        self, jobs: IntArray, route: _Route, *, latest: bool
    ) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
        """Cost (inf: no fit), earliest and latest start, added drive of jobs x slots."""
        sl = route.slots
        vi = route.vi
        d_in = self.dur_mat[sl.prev, jobs[:, None]]
        d_out = self.dur_mat[jobs[:, None], sl.next]
        arrival = np.maximum(sl.dep + sl.a1 + d_in, sl.b1)
        lo, hi = self.win_lo[jobs], self.win_hi[jobs]
        start = np.full(arrival.shape, INF, dtype=np.int64)
        for k in range(lo.shape[1]):
            open_ = arrival <= hi[:, k : k + 1]
            np.minimum(
                start, np.where(open_, np.maximum(arrival, lo[:, k : k + 1]), INF), out=start
            )
        service = self.service_arr[jobs][:, None]
        end = start + service
        after = np.maximum(end + sl.a2 + d_out, sl.b2)
        ok = (start < INF) & (sl.dep <= sl.t1) & (end <= sl.t2) & (after <= sl.lst_next)
        added = d_in + d_out - sl.d_prev_next
        if self.max_work[vi] < INF:
            ok &= route.work + service + added <= self.max_work[vi]
        cost = (
            self.cost_mat[sl.prev, jobs[:, None]].astype(np.float64)
            + self.cost_mat[jobs[:, None], sl.next]
            - sl.c_prev_next
        )
        if self.w_late:
            # Pushing later SLA jobs costs too: those already late take the whole push,
            # the tightest one on time takes what exceeds its room (an estimate).
            push = np.maximum(0, after - sl.start_next)
            late = np.maximum(0, end - self.due_arr[jobs][:, None])
            knock = sl.late_count * push + np.maximum(0, push - sl.due_slack)
            cost += self.w_late * (late + knock)
        if self.w_balance:
            over = np.maximum(0, route.work + service + added - self.fair)
            cost += self.w_balance * (over - max(0, route.work - self.fair))
        # Among equal costs, the slot that delays the rest of the day least, so days fill
        # from the morning (the objective cannot tell the two apart; a dispatcher can).
        cost += np.maximum(0, after - sl.start_next) * 1e-6
        cost[~ok] = np.inf
        last = start
        if latest:
            # Latest start that keeps the rest of the route feasible, inside a window.
            bound = np.minimum(sl.t2, sl.lst_next - d_out - sl.a2) - service
            last = np.full(arrival.shape, NEG, dtype=np.int64)
            for k in range(lo.shape[1]):
                inside = lo[:, k : k + 1] <= bound
                np.maximum(
                    last, np.where(inside, np.minimum(bound, hi[:, k : k + 1]), NEG), out=last
                )
        return cost, start, last, added

    def cap(self, node: int, latest: int) -> None:
        """The node may start no later than `latest`."""
        windows = self.windows[node]
        self.windows[node] = [(lo, min(hi, latest)) for lo, hi in windows if lo <= latest]
        _unfix(self, node)

    def fix(self, node: int, at: int) -> None:
        """From now on the node starts exactly at `at` (a crew's common start)."""
        self.windows[node] = [(at, at)]
        self.win_lo[node] = INF
        self.win_hi[node] = NEG
        self.win_lo[node, 0] = self.win_hi[node, 0] = at


@dataclass(frozen=True)
class Construction:
    """Routes as lists of node indexes per vehicle, and what it took to build them."""

    routes: list[list[int]]
    # Earliest start of every placed node in the schedule the routes were checked with.
    starts: dict[int, int]
    # Nodes of crews and multi-day jobs placed here: vehicle and the exact start.
    fixed: dict[int, tuple[int, int]]
    # Per vehicle: when each break or booking is taken, and when the day ends.
    pauses: list[list[tuple[int, int]]]
    ends: list[int]
    unplaced: list[int]
    elapsed_s: float
    timed_out: bool


def construct(
    problem: Problem,
    nodes: Sequence[NodeLike],
    vehicles: Sequence[VehicleLike],
    durations: IntArray,
    costs: IntArray,
    *,
    field: bool = True,
    skip: Collection[int] = (),
    groups: Sequence[Sequence[int]] = (),
    initial: Sequence[Sequence[int]] | None = None,
    keep: Mapping[int, int] | None = None,
    latest: Mapping[int, int] | None = None,
    only: Collection[int] | None = None,
    regret_k: int = 3,
    deadline: float | None = None,
    eject: bool | Collection[int] = False,
) -> Construction:
    """Insert every node not in `skip` at its cheapest feasible slot, most pressing first.

    Pressing means the largest regret-k when the days have room for everything, and the
    most drop penalty per share of a day when they do not. `durations` and `costs` are
    over routing nodes (jobs, vehicle starts, vehicle ends); `initial` routes (node lists,
    e.g. today's plan) are kept where they still fit. Each of `groups` (the nodes of one
    crew or multi-day job, also in `skip`) goes in whole at one common start per part,
    first when there is room, else when the singles left are worth less; those that do
    not fit stay out. Nodes
    of `initial` in `keep` (group members placed before) keep that exact start, and
    `latest` caps a node's start (the fast model's SLA caps); `only` limits what is
    inserted besides `initial` (a recreate step after a ruin). `eject` then swaps jobs
    left out (any, not only those of `only`) for dearer-to-drop or relocatable visits;
    given vehicle indexes instead of True, only visits of those days move, and only
    among them.
    """
    t0 = time.monotonic()
    b = _Builder(problem, nodes, vehicles, durations, costs, field)
    for node, cap in (latest or {}).items():
        b.cap(node, cap)
    n, nv = b.n, b.nv
    routes = [_Route(b, v) for v in range(nv)]
    skipped = set(skip)
    placed: set[int] = set()
    fixed: dict[int, tuple[int, int]] = {}
    keep = keep or {}
    if initial is not None:
        for v, seq in enumerate(initial):
            for node in seq:
                if node in keep:
                    b.fix(node, keep[node])
                elif node in skipped or v not in nodes[node].allowed:
                    continue
                if node not in placed and _append(b, routes[v], node):
                    placed.add(node)
                    if node in keep:
                        fixed[node] = (v, keep[node])
    pool = range(n) if only is None else sorted(set(only))
    cand = np.array([i for i in pool if i not in skipped and i not in placed], dtype=np.int64)
    m = len(cand)
    if field:
        penalty = np.array(
            [drop_penalty(problem.jobs[nodes[i].job], problem.weights.drop_base) for i in cand],
            dtype=np.float64,
        )
    else:
        penalty = np.full(m, float(MANDATORY))
    allowed = np.zeros((m, nv), dtype=bool)
    for r, i in enumerate(cand):
        allowed[r, nodes[i].allowed] = True
    move = move_costs(problem, nodes, vehicles, cand) if field else None

    cost = np.full((m, nv), np.inf)
    slot = np.zeros((m, nv), dtype=np.int64)
    added = np.zeros((m, nv), dtype=np.int64)
    active = np.ones(m, dtype=bool)

    def update(v: int) -> None:
        rows = np.flatnonzero(active & allowed[:, v])
        route = routes[v]
        full = route.dead or len(route.nodes) >= b.max_jobs[v]
        if full or not len(rows):
            cost[rows, v] = np.inf
            return
        c, s, a = b.evaluate(cand[rows], route)
        if move is not None:
            c = c + move[rows, v]
        if b.capacity[v] < INF:
            c[route.load + np.asarray(b.demand)[cand[rows]] > b.capacity[v]] = np.inf
        cost[rows, v], slot[rows, v], added[rows, v] = c, s, a

    for v in range(nv):
        update(v)
    k = max(1, min(regret_k, nv))
    scarce, day_s, jobs_day, hop = _scarcity(b, cand, allowed)
    # Crews and multi-day jobs: when everything fits they go first, into the emptiest days;
    # when not, each waits until the singles left are worth less per hour than it is.
    pending: list[tuple[float, list[int]]] = []
    for group in groups:
        job = problem.jobs[nodes[group[0]].job]
        value = drop_penalty(job, problem.weights.drop_base) if field else float(MANDATORY)
        use = sum(max((b.service[ni] + hop) / day_s, 1.0 / jobs_day) for ni in group)
        pending.append((value / use, list(group)))
    pending.sort(key=lambda p: -p[0])

    def place_next_group() -> None:
        _, group = pending.pop(0)
        placed_now = _place_group(b, routes, nodes, vehicles, group)
        fixed.update(placed_now)
        for v in {vi for vi, _ in placed_now.values()}:
            update(v)

    if not scarce:
        while pending and (deadline is None or time.monotonic() < deadline):
            place_next_group()
    timed_out = False
    while True:
        if deadline is not None and time.monotonic() > deadline:
            timed_out = True
            break
        rows = np.flatnonzero(active)
        if not len(rows):
            while pending and (deadline is None or time.monotonic() < deadline):
                place_next_group()
            break
        c = cost[rows]
        pen = penalty[rows]
        part = np.partition(c, k - 1, axis=1)[:, :k] if k < nv else c.copy()
        part.sort(axis=1)
        part = np.minimum(part[:, :k], pen[:, None])
        best = part[:, 0]
        # A job whose cheapest slot costs its drop penalty or more is better left out, and
        # slots only get dearer as routes fill: it is out for good.
        hopeless = best >= pen
        if hopeless.any():
            active[rows[hopeless]] = False
            hope = ~hopeless
            rows, part, best, pen = rows[hope], part[hope], best[hope], pen[hope]
            if not len(rows):
                break
        if scarce:
            # Not everything fits: the drop penalty bought per share of a day (its time
            # or its visit slot, whichever binds) decides, as in a knapsack. Regret here
            # cost 15% of the objective on 50x500 (it favours the hard-to-place).
            v_best = np.argmin(cost[rows], axis=1)
            use = (b.service_arr[cand[rows]] + added[rows, v_best]).astype(np.float64)
            key = pen / np.maximum(use / day_s, 1.0 / jobs_day)
        else:
            key = (part[:, 1:] - best[:, None]).sum(axis=1)
        # Ties (identical empty vehicles) go to the job that is dearest to insert: the
        # classic far-first seed, which spreads the first routes out.
        pick = int(np.lexsort((best, key))[-1])
        if scarce and pending and pending[0][0] >= key[pick]:
            place_next_group()
            continue
        r = int(rows[pick])
        v = int(np.argmin(cost[r]))
        route = routes[v]
        g, s = int(route.slots.gap[slot[r, v]]), int(route.slots.split[slot[r, v]])
        if not route.insert(int(cand[r]), g, s):
            # The vectorised check and the exact schedule disagree (a window gap the
            # latest-start test cannot see): forget this slot, keep the job.
            cost[r, v] = np.inf
            continue
        active[r] = False
        cost[r] = np.inf
        update(v)
    if eject and field and not timed_out:
        inside = {node for r in routes for node in r.nodes}
        pool = [i for i in range(n) if i not in skipped and i not in inside]
        days = None if eject is True else set(eject)
        _eject(b, routes, nodes, pool, set(fixed) | set(keep), deadline, days)
    out = [list(r.nodes) for r in routes]
    starts = {node: r.starts[p + 1] for r in routes for p, node in enumerate(r.nodes)}
    unplaced = [int(i) for i in cand if int(i) not in starts]
    return Construction(
        out,
        starts,
        fixed,
        [r.taken for r in routes],
        [r.end for r in routes],
        unplaced,
        time.monotonic() - t0,
        timed_out,
    )


Option = tuple[float, int, int, int, int]  # cost, vehicle, slot, earliest, latest start


def _options(b: _Builder, route: _Route, node: int) -> list[Option]:
    """Every feasible slot of one node in one route, with its start-time interval."""
    if route.dead or len(route.nodes) >= b.max_jobs[route.vi]:
        return []
    if route.load + b.demand[node] > b.capacity[route.vi]:
        return []
    cost, first, last, _ = b.evaluate_all(np.array([node], dtype=np.int64), route, latest=True)
    ok = np.flatnonzero(np.isfinite(cost[0]) & (first[0] <= last[0]))
    return [(float(cost[0, k]), route.vi, int(k), int(first[0, k]), int(last[0, k])) for k in ok]


def _place_group(
    b: _Builder,
    routes: list[_Route],
    nodes: Sequence[NodeLike],
    vehicles: Sequence[VehicleLike],
    group: list[int],
) -> dict[int, tuple[int, int]]:
    """Place a crew (one start, distinct technicians, same day) or a multi-day job.

    Multi-day jobs get one part per working day of one technician, days in a row; a
    multi-day crew is left to the solver's own group placement. Returns what was placed.
    """
    parts: dict[int, list[int]] = {}
    for ni in group:
        parts.setdefault(nodes[ni].part, []).append(ni)
    if len(parts) == 1:
        members = sorted(group, key=lambda ni: nodes[ni].role != "lead")
        return _place_crew(b, routes, nodes, vehicles, members)
    if any(len(p) > 1 for p in parts.values()):
        return {}
    chain = [parts[p][0] for p in sorted(parts)]
    return _place_parts(b, routes, nodes, vehicles, chain)


def _commit(
    b: _Builder, routes: list[_Route], picks: list[tuple[int, Option]], starts: list[int]
) -> dict[int, tuple[int, int]]:
    """Insert every member at its start, or none of them."""
    done: list[tuple[int, int, list[tuple[int, int]]]] = []
    for (ni, (_, vi, k, _, _)), at in zip(picks, starts, strict=True):
        route = routes[vi]
        saved = b.windows[ni]
        b.fix(ni, at)
        gap, split = int(route.slots.gap[k]), int(route.slots.split[k])
        if not route.insert(ni, gap, split):
            b.windows[ni] = saved
            _unfix(b, ni)
            for node, v, win in reversed(done):
                routes[v].remove(node)
                b.windows[node] = win
                _unfix(b, node)
            return {}
        done.append((ni, vi, saved))
    return {ni: (vi, at) for (ni, (_, vi, _, _, _)), at in zip(picks, starts, strict=True)}


def _unfix(b: _Builder, node: int) -> None:
    b.win_lo[node] = INF
    b.win_hi[node] = NEG
    for k, (lo, hi) in enumerate(b.windows[node]):
        b.win_lo[node, k], b.win_hi[node, k] = lo, hi


def _place_crew(
    b: _Builder,
    routes: list[_Route],
    nodes: Sequence[NodeLike],
    vehicles: Sequence[VehicleLike],
    members: list[int],
) -> dict[int, tuple[int, int]]:
    lead, helpers = members[0], members[1:]
    lead_options = sorted(o for v in nodes[lead].allowed for o in _options(b, routes[v], lead))
    # Nothing changes until a commit, so each helper's options are computed once.
    helper_options = {
        helper: {v: _options(b, routes[v], helper) for v in nodes[helper].allowed}
        for helper in helpers
    }
    for option in lead_options[:CREW_TRIES]:
        day = vehicles[option[1]].shift.start
        lo, hi = option[3], option[4]
        used = {vehicles[option[1]].tech}
        picks = [(lead, option)]
        for helper in helpers:
            best: Option | None = None
            for v, found in helper_options[helper].items():
                if vehicles[v].shift.start != day or vehicles[v].tech in used:
                    continue
                for o in found:
                    if max(lo, o[3]) <= min(hi, o[4]) and (best is None or o[0] < best[0]):
                        best = o
            if best is None:
                break
            lo, hi = max(lo, best[3]), min(hi, best[4])
            used.add(vehicles[best[1]].tech)
            picks.append((helper, best))
        if len(picks) == len(members):
            placed = _commit(b, routes, picks, [lo] * len(picks))
            if placed:
                return placed
    return {}


def _place_parts(
    b: _Builder,
    routes: list[_Route],
    nodes: Sequence[NodeLike],
    vehicles: Sequence[VehicleLike],
    chain: list[int],
) -> dict[int, tuple[int, int]]:
    techs = sorted({vehicles[v].tech for v in nodes[chain[0]].allowed})
    trials: list[tuple[float, list[tuple[int, Option]], list[int]]] = []
    for tech in techs:
        own = sorted(
            (v for v in range(len(vehicles)) if vehicles[v].tech == tech),
            key=lambda v: vehicles[v].shift.start,
        )
        for first_day in range(len(own) - len(chain) + 1):
            picks: list[tuple[int, Option]] = []
            starts: list[int] = []
            ready = NEG
            for ni, v in zip(chain, own[first_day:], strict=False):
                if v not in nodes[ni].allowed:
                    break
                fits = [o for o in _options(b, routes[v], ni) if o[4] >= ready]
                if not fits:
                    break
                best = min(fits)
                at = max(best[3], ready)
                picks.append((ni, best))
                starts.append(at)
                ready = at + b.service[ni]
            if len(picks) == len(chain):
                trials.append((sum(o[0] for _, o in picks), picks, starts))
    for _, picks, starts in sorted(trials, key=lambda t: t[0])[:CREW_TRIES]:
        placed = _commit(b, routes, picks, starts)
        if placed:
            return placed
    return {}


RouteState = tuple[
    list[int], list[list[int]], int, int, int, list[int], list[tuple[int, int]], _Slots
]


def _save(route: _Route) -> RouteState:
    """Everything a removal or an insertion changes in a route, to put it back."""
    return (
        list(route.nodes),
        [list(c) for c in route.chains],
        route.end,
        route.work,
        route.load,
        route.starts,
        route.taken,
        route.slots,
    )


def _restore(route: _Route, state: RouteState) -> None:
    (
        route.nodes,
        route.chains,
        route.end,
        route.work,
        route.load,
        route.starts,
        route.taken,
        route.slots,
    ) = state
    route.nodes, route.chains = list(route.nodes), [list(c) for c in route.chains]


def _removal_saving(b: _Builder, route: _Route, node: int) -> float:
    """Travel cost saved by taking `node` out of its route (lateness is left to the caller)."""
    locs = [b.start_loc[route.vi], *route.nodes, b.end_loc[route.vi]]
    at = route.nodes.index(node) + 1
    prev, nxt = locs[at - 1], locs[at + 1]
    c = b.cost_mat
    return float(c[prev, node] + c[node, nxt] - c[prev, nxt])


def _can_take(b: _Builder, route: _Route, node: int) -> bool:
    """Whether one more visit of `node` stays within the day's job count and load."""
    if route.dead or len(route.nodes) >= b.max_jobs[route.vi]:
        return False
    return route.load + b.demand[node] <= b.capacity[route.vi]


def _eject(
    b: _Builder,
    routes: list[_Route],
    nodes: Sequence[NodeLike],
    pool: list[int],
    frozen: set[int],
    deadline: float | None,
    days: set[int] | None = None,
) -> None:
    """Put left-out jobs in where a visit makes way; the visit moves to another day or goes.

    Regret insertion never revisits a choice, and OR-Tools' operators swap a left-out job
    only for a dropped one (swap_active) or move one visit at a time: neither takes a visit
    out, puts a left-out job in its place and the visit elsewhere (an ejection chain of
    length two), which is what packs a full day with one more job. Each pass scores every
    (visit, left-out job) pair with numpy, then applies the best moves that touch distinct
    routes; passes repeat while they gain. Every pass looks at every day of `days` (all
    when None) again: limiting it to the days the last pass changed cost 2-4M of
    objective on 50x500 at 30 s (the offers of the other days change with every relocated
    visit). The solver's recreate steps pass the days around their ruin: a pass over
    all 50 days took ~0.2 s, most of a round, and a local ruin rarely pays far away.
    """
    problem = b.problem
    base = problem.weights.drop_base
    pen = np.array([drop_penalty(problem.jobs[node.job], base) for node in nodes], dtype=np.float64)
    allowed = np.zeros((b.n, b.nv), dtype=bool)
    for i, node in enumerate(nodes):
        allowed[i, node.allowed] = True
    out = set(pool)
    for _ in range(EJECT_PASSES):
        if not out or (deadline is not None and time.monotonic() > deadline):
            return
        owner = {
            a: v
            for v, r in enumerate(routes)
            if days is None or v in days
            for a in r.nodes
            if a not in frozen
        }
        movable = np.array(sorted(owner), dtype=np.int64)
        if not len(movable):
            return
        free = [
            not r.dead and len(r.nodes) < b.max_jobs[r.vi] and (days is None or v in days)
            for v, r in enumerate(routes)
        ]
        # Where each visit would go on another day, at what cost (its own day excluded).
        reloc = np.full(len(movable), np.inf)
        reloc_to = np.full(len(movable), -1, dtype=np.int64)
        own = np.array([owner[int(a)] for a in movable], dtype=np.int64)
        for w, route in enumerate(routes):
            if not free[w]:
                continue
            rows = np.flatnonzero(allowed[movable, w] & (own != w))
            if b.capacity[w] < INF:
                rows = rows[np.asarray(b.demand)[movable[rows]] <= b.capacity[w] - route.load]
            if not len(rows):
                continue
            c, _, _ = b.evaluate(movable[rows], route)
            better = c < reloc[rows]
            reloc[rows[better]] = c[better]
            reloc_to[rows[better]] = w
        keep_cost = np.minimum(reloc, pen[movable])
        left = np.array(sorted(out), dtype=np.int64)
        moves: list[tuple[float, int, int, int, int]] = []  # gain, visit, job, day, to
        for r, a in enumerate(movable.tolist()):
            v = int(own[r])
            route = routes[v]
            cand = left[allowed[left, v]]
            if b.capacity[v] < INF:
                room = b.capacity[v] - route.load + b.demand[a]
                cand = cand[np.asarray(b.demand)[cand] <= room]
            if not len(cand):
                continue
            # Only a job worth more than what making way costs can gain anything.
            cand = cand[pen[cand] > keep_cost[r] - _removal_saving(b, route, a)]
            if not len(cand):
                continue
            saved = _save(route)
            saving = _removal_saving(b, route, a)
            route.remove(a)
            c, _, _ = b.evaluate(cand, route)
            _restore(route, saved)
            gain = pen[cand] - c + saving - keep_cost[r]
            k = int(np.argmax(gain))
            if gain[k] > 1.0:
                to = int(reloc_to[r]) if reloc[r] < pen[a] else -1
                moves.append((float(gain[k]), a, int(cand[k]), v, to))
        if not moves:
            return
        moves.sort(key=lambda m: -m[0])
        touched: set[int] = set()
        used: set[int] = set()
        applied = 0
        for _, a, u, v, to in moves:
            if v in touched or (to >= 0 and to in touched) or u in used:
                continue
            if _swap_in(b, routes, a, u, v, to, pen):
                touched.update((v, to))
                used.add(u)
                out.discard(u)
                if not any(a in r.nodes for r in routes):
                    out.add(a)
                applied += 1
        if not applied:
            return


def _swap_in(
    b: _Builder, routes: list[_Route], a: int, u: int, v: int, to: int, pen: FloatArray
) -> bool:
    """Apply one ejection: `a` out of day `v`, `u` in its best slot there, `a` to day `to`.

    Undone (False) when the exact schedule disagrees with the estimate or the move no
    longer gains once `a` has to be dropped.
    """
    route = routes[v]
    saved = _save(route)
    route.remove(a)
    c, slot, _ = b.evaluate(np.array([u], dtype=np.int64), route)
    k = int(slot[0])
    if not np.isfinite(c[0]) or not route.insert(
        u, int(route.slots.gap[k]), int(route.slots.split[k])
    ):
        _restore(route, saved)
        return False
    if to >= 0 and _can_take(b, routes[to], a):
        dest = routes[to]
        ca, sa, _ = b.evaluate(np.array([a], dtype=np.int64), dest)
        k = int(sa[0])
        if np.isfinite(ca[0]) and dest.insert(a, int(dest.slots.gap[k]), int(dest.slots.split[k])):
            return True
    if pen[u] > pen[a]:
        return True  # worth it even with `a` left out
    _restore(route, saved)
    return False


def _scarcity(b: _Builder, cand: IntArray, allowed: BoolArray) -> tuple[bool, float, float, float]:
    """Whether jobs want more time or visits than the days have; day, visits and a hop."""
    live = [v for v in range(b.nv) if allowed[:, v].any()]
    if not live or not len(cand):
        return False, 1.0, 1.0, 0.0
    day = [b.limit[v] - b.earliest[v] - sum(p.duration for p in b.pauses[v]) for v in live]
    day_s = max(1.0, float(np.mean(day)))
    caps = [b.max_jobs[v] for v in live]
    jobs_day = float(np.mean([c for c in caps if c < INF])) if any(c < INF for c in caps) else 1e9
    # A job costs its service plus roughly the drive from its nearest neighbour.
    sub = b.dur_mat[np.ix_(cand, cand)].astype(np.float64) + np.eye(len(cand)) * 1e12
    hop = float(np.median(sub.min(axis=1))) if len(cand) > 1 else 0.0
    need = float(b.service_arr[cand].sum()) + hop * len(cand)
    visits = sum(min(c, len(cand)) for c in caps)
    return need > sum(day) or len(cand) > visits, day_s, jobs_day, hop


def _append(b: _Builder, route: _Route, node: int) -> bool:
    """Add a node at the end of a route (a kept assignment) if it still fits there."""
    if route.dead or len(route.nodes) >= b.max_jobs[route.vi]:
        return False
    if route.load + b.demand[node] > b.capacity[route.vi]:
        return False
    last = len(route.nodes)
    # Of the ways to split the pending pauses around the new visit, the one that ends it
    # earliest; on a tie, the one taking the most pauses before it. A pause that fits in a
    # wait costs nothing now, and left pending it may push every later visit: deferring
    # the lunch break by default lost the last visit of ~1 day in 8 at 1,000 jobs.
    saved = _save(route)
    best: tuple[int, RouteState] | None = None
    for split in range(len(route.chains[last]) + 1):
        if route.insert(node, last, split):
            if route.work <= b.max_work[route.vi]:
                end = route.starts[last + 1] + b.service[node]
                if best is None or end <= best[0]:
                    best = (end, _save(route))
            _restore(route, saved)
    if best is not None:
        _restore(route, best[1])
        return True
    return _repack(b, route, node)


def _repack(b: _Builder, route: _Route, node: int) -> bool:
    """Append `node` with every pause of the day placed anew, if some placement fits.

    The pauses placed for the visits so far were chosen without the ones to come: a
    lunch break after a visit that ends at 13:00 can cost the visit at 15:00 its window,
    where the same break in a wait before 12:00 would not. Tries every gap for every
    pause (in their fixed order, ~10-70 schedules) and keeps the earliest day's end; only
    called when the plain append fails, and not for days with so many pauses (bookings)
    that the schedules to try exceed REPACK_MAX.
    """
    order = [i for chain in route.chains for i in chain]
    gaps = len(route.nodes) + 2
    if math.comb(gaps + len(order) - 1, len(order)) > REPACK_MAX:
        return False
    saved = _save(route)
    route.nodes.append(node)
    best: tuple[int, RouteState] | None = None
    for where in itertools.combinations_with_replacement(range(gaps), len(order)):
        route.chains = [[] for _ in range(gaps)]
        for i, g in zip(order, where, strict=True):
            route.chains[g].append(i)
        slots = route.refresh()
        if slots is not None and route.work <= b.max_work[route.vi]:
            if best is None or route.end < best[0]:
                route.slots = slots
                best = (route.end, _save(route))
    _restore(route, saved if best is None else best[1])
    return best is not None


def move_costs(
    problem: Problem,
    nodes: Sequence[NodeLike],
    vehicles: Sequence[VehicleLike],
    cand: IntArray,
) -> FloatArray | None:
    """The stability cost of each candidate on each vehicle (None when nothing is planned)."""
    jobs, techs = problem.jobs, problem.technicians
    w = problem.weights
    current = [jobs[nodes[i].job].current_technician for i in cand]
    if not any(current):
        return None
    out = np.zeros((len(cand), len(vehicles)))
    tech_ids = [techs[v.tech].id for v in vehicles]
    for r, i in enumerate(cand):
        owner = current[r]
        if owner is None:
            continue
        job = jobs[nodes[i].job]
        price = w.move_dispatched if job.dispatched else w.move_planned
        for v, tid in enumerate(tech_ids):
            if tid != owner:
                out[r, v] = price
    return out
