"""Sync chaos: simulated WatermelonDB devices against a real server that keeps crashing.

Shared by the CI test (``tests/e2e/test_sync_chaos.py``, reduced size) and the benchmark
(``bench/sync_chaos.py``, full size). Only loopback HTTP and only the server process this
module started (``ServerProcess``) is ever killed.

The model
---------
Each device is one seeded technician with its own ``X-Device-Id`` and a local replica (a
dict of rows per table) that follows WatermelonDB's sync semantics:

- **pull** applies ``created``/``updated`` (a locally changed column keeps its local value,
  everything else takes the server's) and ``deleted`` (the row goes, pending edits too);
- **offline edits** change device-owned columns of the technician's orders
  (``technician_notes``, ``checklist_answers``) or create append-only rows with client
  UUIDs (``work_order_notes``, ``check_ins``);
- **push** sends every pending row (``_status``/``_changed``) with ``last_pulled_at`` the
  cursor of the pull just made and one ``Idempotency-Key`` per logical push, reused on every
  retry. On success a column stops being pending only if it was not edited again meanwhile.

Faults, all drawn from one ``random.Random`` per device (so each device's choice sequence
is a function of the seed): a push sent twice with the same key (sequentially or at the same
moment from two connections), an old acknowledged push replayed later (its stored answer
must come back), two queued pushes sent in reverse order, a response dropped by the client
after the server answered, a connection cut mid-request (a read timeout of a few
milliseconds: unknown outcome, retried with the same key), and the server SIGKILLed and
restarted on the same port and database while everyone is mid-flight. A dispatcher changes
priorities through the REST API (``If-Match``) meanwhile and may reassign orders.

Reordering is done the way a queueing client could do it without lying about its cursor:
after a clean sync the device pulls (cursor C), edits, queues push A (cursor C), edits other
columns, queues push B (cursor C, only what changed after A) and sends B before A. Both were
made against the state at C, so C is a consistent ``last_pulled_at`` for each of them.

The invariants (checked by :func:`verify` once every device has synced cleanly)
--------------------------------------------------------------------------------
1. ``converged``: every device's replica equals a fresh full pull (``last_pulled_at=null``,
   new device id) of the same technician, row for row and value for value.
2. ``no_lost_device_edit``: for each device and each device-owned column it pushed, its
   last pushed value is the server's value, or it was overwritten by someone else and the
   conflict log (``GET /api/v1/sync/conflicts``) holds it as ``server_value`` of a
   ``same_field`` entry, or the writer that replaced it had seen it (a sequential edit).
3. ``no_duplicate_rows``: every client UUID of an append-only row exists exactly once,
   unmodified, on its order; the server has no other rows on those orders than the seed's
   and the created ones.
4. ``no_5xx``: no request ever got a 5xx answer (a server that is down is a connection
   error, which clients retry).
5. ``idempotent_answers``: duplicates and replays got the same answer as the original.
6. ``no_unexpected_4xx``: pushes and pulls never got a 4xx other than 409
   ``push_in_progress`` for concurrent duplicates.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e.server_process import ServerProcess, build_database

PASSWORD = "demo-password-2026"
DOMAIN = "shenhu.example"
DISPATCHER = f"dispatcher1@{DOMAIN}"
SYNC = "/api/v1/sync"
DEVICE_COLUMNS = ("technician_notes", "checklist_answers")
APPEND_TABLES = ("work_order_notes", "check_ins")
JSON_COLUMNS = frozenset({"checklist_answers"})
PRIORITIES = ("low", "normal", "high", "urgent")
REQUEST_TIMEOUT_S = 60.0
RETRY_DEADLINE_S = 120.0  # per request: covers a restart (about 2 s) with a wide margin

# Columns every created append-only row carries (WatermelonDB sends the whole raw record;
# the server ignores its own stamped columns on insert).
NOTE_COLUMNS = ("work_order_id", "occurred_at", "created_by_id", "device_id", "recorded_at")


@dataclass(frozen=True)
class ChaosConfig:
    """Size, seed and fault rates of one run."""

    devices: int = 6
    edits: int = 25
    seed: int = 20261123
    kills: int = 1
    reassignments: int = 1
    shared_orders: int = 4  # orders led by one simulated technician, helped by another
    office_edits: bool = True
    sync_probability: float = 0.25  # after each edit, chance to sync right away
    p_duplicate: float = 0.12
    p_concurrent_duplicate: float = 0.06
    p_replay: float = 0.15
    p_reorder: float = 0.10
    p_lost_response: float = 0.15
    p_disconnect: float = 0.15
    downtime_s: float = 0.3


CI_CONFIG = ChaosConfig()
FULL_CONFIG = ChaosConfig(devices=20, edits=100, kills=3, reassignments=2, shared_orders=12)


# --- statistics ----------------------------------------------------------------------------
@dataclass
class Stats:
    """Counters shared by every thread (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    answer_mismatches: list[dict[str, Any]] = field(default_factory=list)
    progress: int = 0

    def add(self, name: str, n: int = 1) -> None:
        """Increment one counter."""
        with self.lock:
            self.counts[name] += n

    def status(self, kind: str, code: int) -> None:
        """Count one HTTP answer by request kind and status code."""
        with self.lock:
            self.statuses[f"{kind} {code}"] += 1

    def note(self, bucket: str, entry: dict[str, Any]) -> None:
        """Keep one anomaly (bounded, for the report)."""
        with self.lock:
            items: list[dict[str, Any]] = getattr(self, bucket)
            if len(items) < 50:
                items.append(entry)
            self.counts[bucket] += 1


class NetError(Exception):
    """No answer: connection refused/reset or timed out (outcome unknown)."""


# --- HTTP ----------------------------------------------------------------------------------------
class Client:
    """One user's HTTP client: bearer token, retries across restarts, status bookkeeping."""

    def __init__(
        self, base_url: str, email: str, stats: Stats, device_id: str | None = None
    ) -> None:
        """Log in lazily on the first request."""
        self.base_url = base_url
        self.email = email
        self.stats = stats
        self.device_id = device_id
        self.http = requests.Session()
        self.token: str | None = None
        self.user: dict[str, Any] = {}

    def login(self) -> None:
        """POST /api/v1/auth/login (retried while the server is down)."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while True:
            try:
                r = self.http.post(
                    f"{self.base_url}/api/v1/auth/login",
                    json={"email": self.email, "password": PASSWORD},
                    timeout=REQUEST_TIMEOUT_S,
                )
            except requests.RequestException:
                self._backoff(deadline, "login")
                continue
            self.stats.status("login", r.status_code)
            if r.status_code >= 500:
                self.stats.note("server_errors", {"kind": "login", "status": r.status_code})
                self._backoff(deadline, "login")
                continue
            r.raise_for_status()
            body = r.json()
            self.token, self.user = body["access_token"], body["user"]
            return

    def _backoff(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{self.email}: {what} kept failing for {RETRY_DEADLINE_S}s")
        self.stats.add("connection_errors")
        time.sleep(0.05)
        # Pooled connections to a killed server are dead; start afresh.
        self.http.close()
        self.http = requests.Session()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Bearer token, device id and any extra headers."""
        if self.token is None:
            self.login()
        out = {"Authorization": f"Bearer {self.token}"}
        if self.device_id:
            out["X-Device-Id"] = self.device_id
        out.update(extra or {})
        return out

    def once(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        read_timeout: float = REQUEST_TIMEOUT_S,
        session: requests.Session | None = None,
    ) -> requests.Response:
        """One attempt; raises NetError when no answer came back."""
        try:
            r = (session or self.http).request(
                method,
                f"{self.base_url}{path}",
                params=params,
                json=body,
                headers=self.headers(headers),
                timeout=(5.0, read_timeout),
            )
        except requests.RequestException as exc:
            if session is None:
                self.http.close()
                self.http = requests.Session()
            raise NetError(str(exc)) from exc
        self.stats.status(kind, r.status_code)
        if r.status_code >= 500:
            self.stats.note(
                "server_errors",
                {"kind": kind, "path": path, "status": r.status_code, "body": r.text[:500]},
            )
        return r

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        accept: Iterable[int] = (200,),
    ) -> requests.Response:
        """Retry until an answer that is not a 5xx, a 401 (re-login) or a connection error."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while True:
            try:
                r = self.once(method, path, kind=kind, params=params, body=body, headers=headers)
            except NetError:
                self._backoff(deadline, f"{method} {path}")
                continue
            if r.status_code == 401:
                self.login()
                continue
            if r.status_code >= 500:
                self._backoff(deadline, f"{method} {path}")
                continue
            if r.status_code not in accept:
                self.stats.note(
                    "unexpected",
                    {
                        "who": self.device_id or self.email,
                        "request": f"{method} {path}",
                        "params": params,
                        "status": r.status_code,
                        "body": r.text[:800],
                    },
                )
            return r


def _pages(client: Client, path: str, params: dict[str, Any], kind: str) -> list[Any]:
    out: list[Any] = []
    page = 1
    while True:
        r = client.call("GET", path, kind=kind, params={**params, "page": page, "page_size": 200})
        r.raise_for_status()
        items = r.json()
        out.extend(items)
        if len(items) < 200:
            return out
        page += 1


# --- the device --------------------------------------------------------------------------------
@dataclass
class LocalRow:
    """One row of the local database: values plus WatermelonDB's sync metadata.

    ``changed`` maps a locally edited column to the edit's version, so a column only stops
    being pending when the value that was pushed is still the local one.
    """

    values: dict[str, Any]
    status: str = "synced"  # synced | created | updated
    changed: dict[str, int] = field(default_factory=dict)


@dataclass
class Push:
    """One logical push: its key, cursor, body and what it contained."""

    key: str
    cursor: int
    body: dict[str, Any]
    columns: dict[tuple[str, str], tuple[str, int, Any]]  # (row, col) -> (table, version, value)
    created: list[tuple[str, str]]  # (table, id)
    answer: dict[str, Any] | None = None


@dataclass
class EditRecord:
    """One offline edit of a device-owned column (for the lost-edit invariant)."""

    device: str
    row_id: str
    column: str
    value: Any
    base: Any


class Device:
    """One technician's app: replica, pending changes, fault plan, and its HTTP client."""

    def __init__(self, index: int, base_url: str, config: ChaosConfig, stats: Stats) -> None:
        """Technician ``tech{index+1:02d}``, device id ``chaos-<seed>-<index>``."""
        self.index = index
        self.email = f"tech{index + 1:02d}@{DOMAIN}"
        self.device_id = f"chaos-{config.seed}-{index:02d}"
        self.config = config
        self.stats = stats
        self.rng = random.Random(f"{config.seed}:{index}")
        self.client = Client(base_url, self.email, stats, self.device_id)
        self.replica: dict[str, dict[str, LocalRow]] = {}
        self.cursor: int | None = None
        self.version = 0
        self.push_seq = 0
        self.acked: list[Push] = []
        self.pushed_values: dict[tuple[str, str], Any] = {}
        self.edits: list[EditRecord] = []
        self.created: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in APPEND_TABLES}
        self.dropped_pending = 0
        # Like the app: the cursor of the last sync that had nothing to push (conflict base).
        self.clean_through: int | None = None
        self.baseline: dict[tuple[str, str], set[str]] = {}
        self.error: BaseException | None = None

    # --- pull -------------------------------------------------------------------------------
    def pull(self) -> None:
        """GET /sync from the cursor and apply it the WatermelonDB way."""
        cursor = "null" if self.cursor is None else str(self.cursor)
        headers = {}
        if self.cursor is not None and not self.pending():
            # Like the app: a pull made with nothing unpushed says so, and only such a pull
            # may bring the drop of an order reassigned away (see sync/README.md).
            headers = {"X-Sync-Clean-Through": str(self.cursor), "X-Sync-Pending": "0"}
        elif self.clean_through is not None:
            headers = {"X-Sync-Clean-Through": str(self.clean_through), "X-Sync-Pending": "1"}
        self.clean_through = None
        r = self.client.call(
            "GET", SYNC, kind="pull", params={"last_pulled_at": cursor}, headers=headers
        )
        if r.status_code != 200:
            raise RuntimeError(f"{self.device_id}: pull answered {r.status_code}: {r.text[:300]}")
        body = r.json()
        self.apply(body["changes"], replacement=body.get("experimentalStrategy") == "replacement")
        self.cursor = int(body["timestamp"])
        self.stats.add("pulls")

    def apply(self, changes: dict[str, Any], *, replacement: bool = False) -> None:
        """applyRemoteChanges: local edits of changed columns survive, deletes win."""
        for table, buckets in changes.items():
            rows = self.replica.setdefault(table, {})
            if replacement:
                seen = {r["id"] for b in ("created", "updated") for r in buckets[b]}
                for row_id in [i for i, r in rows.items() if r.status == "synced"]:
                    if row_id not in seen:
                        del rows[row_id]
            for bucket in ("created", "updated"):
                for raw in buckets[bucket]:
                    local = rows.get(raw["id"])
                    if local is None:
                        rows[raw["id"]] = LocalRow(dict(raw))
                    elif local.status == "synced":
                        local.values = dict(raw)
                    else:
                        merged = dict(raw)
                        for column in local.changed:
                            merged[column] = local.values[column]
                        if local.status == "created":
                            merged = {**merged, **local.values}
                        local.values = merged
            for row_id in buckets["deleted"]:
                gone = rows.pop(row_id, None)
                if gone is not None and gone.status != "synced":
                    self.dropped_pending += 1

    # --- offline edits ----------------------------------------------------------------------
    def orders(self) -> list[LocalRow]:
        """The work orders on this device, in a stable order."""
        rows = self.replica.get("work_orders", {})
        return [rows[k] for k in sorted(rows)]

    def edit(self, avoid: set[tuple[str, str]] | None = None) -> None:
        """One offline edit, chosen by the device's random generator."""
        orders = self.orders()
        if not orders:
            self.stats.add("edits_skipped_no_orders")
            return
        # Orders shared with a helper are edited more often: that is where two devices
        # change the same column of the same row (same-field conflicts).
        weights = [6 if o.values.get("helper_ids") not in (None, "[]") else 1 for o in orders]
        order = self.rng.choices(orders, weights)[0]
        kind = self.rng.choices(
            ("technician_notes", "checklist_answers", "note", "check_in"), (35, 25, 25, 15)
        )[0]
        if kind in DEVICE_COLUMNS and avoid and (order.values["id"], kind) in avoid:
            kind = "note"
        self.version += 1
        n = self.version
        now = int(time.time() * 1000)
        if kind in DEVICE_COLUMNS:
            if kind == "technician_notes":
                value: Any = f"{self.device_id} edit {n}: {self.rng.choice(WORDS)}"
            else:
                value = json.dumps(
                    {"by": self.device_id, "n": n, "q1": self.rng.choice(("ok", "fault", "n/a"))},
                    sort_keys=True,
                )
            self.edits.append(
                EditRecord(self.device_id, order.values["id"], kind, value, order.values.get(kind))
            )
            order.values[kind] = value
            order.changed[kind] = n
            if order.status == "synced":
                order.status = "updated"
            self.stats.add(f"edit_{kind}")
            return
        row_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        values: dict[str, Any] = {
            "id": row_id,
            "work_order_id": order.values["id"],
            "occurred_at": now,
            "created_by_id": None,
            "device_id": None,
            "recorded_at": None,
        }
        if kind == "note":
            table = "work_order_notes"
            values.update(body=f"{self.device_id} note {n}", corrects_id=None)
        else:
            table = "check_ins"
            lat = order.values.get("lat") or 31.2
            lon = order.values.get("lon") or 121.4
            values.update(
                kind=self.rng.choice(("in", "out")),
                lat=round(lat + self.rng.uniform(-0.0005, 0.0005), 6),
                lon=round(lon + self.rng.uniform(-0.0005, 0.0005), 6),
                accuracy_m=round(self.rng.uniform(3, 30), 1),
                distance_m=None,
                within_geofence=None,
            )
        self.replica.setdefault(table, {})[row_id] = LocalRow(dict(values), status="created")
        self.created[table][row_id] = dict(values)
        self.stats.add(f"edit_{table}")

    def pending(self) -> bool:
        """True when anything local is not yet acknowledged by the server."""
        return any(r.status != "synced" for rows in self.replica.values() for r in rows.values())

    # --- push -------------------------------------------------------------------------------
    def build_push(self, exclude: Push | None = None) -> Push | None:
        """Every pending change (minus what ``exclude`` already carries, unchanged)."""
        assert self.cursor is not None
        body: dict[str, Any] = {}
        columns: dict[tuple[str, str], tuple[str, int, Any]] = {}
        created: list[tuple[str, str]] = []
        for table in sorted(self.replica):
            for row_id, row in sorted(self.replica[table].items()):
                if row.status == "created":
                    if exclude is not None and (table, row_id) in exclude.created:
                        continue
                    bucket = body.setdefault(table, {"created": [], "updated": [], "deleted": []})
                    bucket["created"].append({**row.values, "_status": "created", "_changed": ""})
                    created.append((table, row_id))
                elif row.status == "updated":
                    changed = {
                        c: v
                        for c, v in row.changed.items()
                        if exclude is None
                        or exclude.columns.get((row_id, c), ("", -1, None))[1] != v
                    }
                    if not changed:
                        continue
                    bucket = body.setdefault(table, {"created": [], "updated": [], "deleted": []})
                    bucket["updated"].append(
                        {
                            **row.values,
                            "_status": "updated",
                            "_changed": ",".join(sorted(changed)),
                        }
                    )
                    for column, version in changed.items():
                        columns[(row_id, column)] = (table, version, row.values[column])
        if not body:
            return None
        self.push_seq += 1
        key = f"{self.device_id}-push-{self.push_seq}"
        return Push(key, self.cursor, copy.deepcopy(body), columns, created)

    def acknowledge(self, push: Push) -> None:
        """markLocalChangesAsSynced: only what is unchanged since the push was built."""
        for table, row_id in push.created:
            row = self.replica.get(table, {}).get(row_id)
            if row is not None and row.status == "created":
                row.status = "synced"
        for (row_id, column), (table, version, value) in push.columns.items():
            self.pushed_values[(row_id, column)] = value
            row = self.replica.get(table, {}).get(row_id)
            if row is None:
                continue
            if row.changed.get(column) == version:
                del row.changed[column]
            if row.status == "updated" and not row.changed:
                row.status = "synced"

    def _post(
        self, push: Push, *, read_timeout: float = REQUEST_TIMEOUT_S, session: Any = None
    ) -> requests.Response:
        return self.client.once(
            "POST",
            SYNC,
            kind="push",
            params={"last_pulled_at": push.cursor},
            body=push.body,
            headers={"Idempotency-Key": push.key},
            read_timeout=read_timeout,
            session=session,
        )

    def _concurrent_duplicate(self, push: Push) -> list[requests.Response | NetError]:
        """The same push from two connections at the same moment."""
        results: list[requests.Response | NetError] = []
        lock = threading.Lock()
        gate = threading.Barrier(2)

        def send() -> None:
            session = requests.Session()
            try:
                gate.wait(timeout=10)
                result: requests.Response | NetError = self._post(push, session=session)
            except NetError as exc:
                result = exc
            finally:
                session.close()
            with lock:
                results.append(result)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def deliver(self, push: Push) -> None:
        """Send one logical push until acknowledged, injecting the planned faults."""
        rng, cfg = self.rng, self.config
        plan: list[str] = []
        if rng.random() < cfg.p_disconnect:
            plan.append("disconnect")
        if rng.random() < cfg.p_lost_response:
            plan.append("lost")
        if rng.random() < cfg.p_concurrent_duplicate:
            plan.append("concurrent")
        rng.shuffle(plan)
        duplicate_after = rng.random() < cfg.p_duplicate
        self.stats.add("pushes")
        deadline = time.monotonic() + RETRY_DEADLINE_S
        attempts = 0
        answer: dict[str, Any] | None = None
        while answer is None:
            mode = plan.pop(0) if plan else "normal"
            attempts += 1
            responses: list[requests.Response | NetError]
            if mode == "concurrent":
                self.stats.add("fault_concurrent_duplicate")
                responses = self._concurrent_duplicate(push)
            else:
                timeout = rng.uniform(0.001, 0.03) if mode == "disconnect" else REQUEST_TIMEOUT_S
                try:
                    responses = [self._post(push, read_timeout=timeout)]
                except NetError as exc:
                    responses = [exc]
                if mode == "disconnect":
                    self.stats.add("fault_disconnect")
                if mode == "lost":
                    self.stats.add("fault_lost_response")
                    continue  # the server may have answered; the client never saw it
            answers = []
            for r in responses:
                if isinstance(r, NetError):
                    continue
                if r.status_code == 200:
                    answers.append(r.json())
                elif r.status_code == 401:
                    self.client.login()
                elif r.status_code == 409 and _code(r) == "push_in_progress":
                    self.stats.add("push_in_progress_409")
                elif r.status_code < 500:
                    self.stats.note(
                        "unexpected",
                        {
                            "who": self.device_id,
                            "request": f"POST {SYNC}?last_pulled_at={push.cursor}",
                            "key": push.key,
                            "status": r.status_code,
                            "body": r.text[:800],
                            "push": _summary(push.body),
                        },
                    )
                    raise RuntimeError(f"{self.device_id}: push {push.key} got {r.status_code}")
            if len(answers) == 2 and answers[0] != answers[1]:
                self.stats.note(
                    "answer_mismatches",
                    {"key": push.key, "why": "concurrent duplicate", "answers": answers},
                )
            if answers:
                answer = answers[0]
            else:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.device_id}: push {push.key} never acknowledged")
                if mode == "normal":
                    time.sleep(0.05)
        self.stats.add("push_attempts", attempts)
        self.stats.add("retries", attempts - 1)
        push.answer = answer
        conflicts = answer.get("conflicts", [])
        self.stats.add("conflicts_in_answers", len(conflicts))
        if duplicate_after:
            self.stats.add("fault_duplicate")
            self.expect_same_answer(push, "duplicate")
        self.acknowledge(push)
        self.acked.append(push)

    def expect_same_answer(self, push: Push, why: str) -> None:
        """Send an acknowledged push again (same key): the stored answer must come back."""
        r = self.client.call(
            "POST",
            SYNC,
            kind="push",
            params={"last_pulled_at": push.cursor},
            body=push.body,
            headers={"Idempotency-Key": push.key},
        )
        if r.status_code != 200 or r.json() != push.answer:
            self.stats.note(
                "answer_mismatches",
                {"key": push.key, "why": why, "status": r.status_code, "body": r.text[:800]},
            )

    # --- sync rounds --------------------------------------------------------------------------
    def sync(self) -> None:
        """synchronize(): pull, then push whatever is pending (maybe replay an old push)."""
        self.pull()
        push = self.build_push()
        if push is not None:
            self.deliver(push)
        else:
            self.clean_through = self.cursor
        if self.acked and self.rng.random() < self.config.p_replay:
            self.stats.add("fault_replay")
            self.expect_same_answer(self.rng.choice(self.acked[:-1] or self.acked), "replay")

    def reordered_round(self) -> int:
        """Queue A, edit other columns, queue B (the rest), send B then A. Returns edits."""
        while True:  # a clean start: nothing pending when the round's cursor is taken
            self.sync()
            if not self.pending():
                break
        self.pull()
        edits = 0
        for _ in range(self.rng.randint(1, 3)):
            self.edit()
            edits += 1
        first = self.build_push()
        if first is None:
            return edits
        avoid = set(first.columns)
        for _ in range(self.rng.randint(1, 3)):
            self.edit(avoid)
            edits += 1
        second = self.build_push(exclude=first)
        self.stats.add("fault_reorder")
        if second is not None:
            self.deliver(second)
        self.deliver(first)
        return edits

    def run(self, progress: Callable[[int], None]) -> None:
        """The device's whole life: first sync, M edits with syncs and faults."""
        self.sync()
        for table in APPEND_TABLES:  # the seed's rows, before any device wrote
            for row_id, row in self.replica.get(table, {}).items():
                key = (table, row.values["work_order_id"])
                self.baseline.setdefault(key, set()).add(row_id)
        done = 0
        while done < self.config.edits:
            if self.rng.random() < self.config.p_reorder and done + 6 <= self.config.edits:
                made = self.reordered_round()
            else:
                self.edit()
                made = 1
                if self.rng.random() < self.config.sync_probability:
                    self.sync()
            done += made
            progress(made)

    def settle(self) -> int:
        """Final clean syncs until nothing is pending; returns how many rounds it took."""
        rounds = 0
        while True:
            rounds += 1
            self.pull()
            push = self.build_push()
            if push is None:
                self.clean_through = self.cursor
                return rounds
            self.deliver(push)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The replica as plain rows (metadata dropped)."""
        return {
            table: {row_id: dict(row.values) for row_id, row in rows.items()}
            for table, rows in self.replica.items()
        }


WORDS = (
    "door operator adjusted",
    "replaced roller guide",
    "customer not on site",
    "lubricated rails",
    "fault code E27 cleared",
    "brake pads worn, order parts",
    "landing door realigned",
)


def _code(r: requests.Response) -> str | None:
    try:
        return str(r.json().get("code"))
    except ValueError:
        return None


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    return {t: {b: len(rows) for b, rows in buckets.items() if rows} for t, buckets in body.items()}


# --- the office ---------------------------------------------------------------------------------
class Office:
    """A dispatcher editing priorities (If-Match) and reassigning a few orders meanwhile."""

    def __init__(self, base_url: str, stats: Stats, seed: int) -> None:
        """Dispatcher1, with its own seeded random generator."""
        self.client = Client(base_url, DISPATCHER, stats)
        self.stats = stats
        self.rng = random.Random(f"{seed}:office")
        self.reassigned: list[dict[str, str]] = []

    def change_priority(self, order_id: str) -> bool:
        """GET for the ETag, PATCH with If-Match; a 412 (someone else was faster) is fine."""
        r = self.client.call("GET", f"/api/v1/work-orders/{order_id}", kind="office")
        if r.status_code != 200:
            return False
        current = r.json()["priority"]
        target = self.rng.choice([p for p in PRIORITIES if p != current])
        r = self.client.call(
            "PATCH",
            f"/api/v1/work-orders/{order_id}",
            kind="office",
            body={"priority": target},
            headers={"If-Match": r.headers["ETag"]},
            accept=(200, 409, 412, 428),
        )
        if r.status_code == 200:
            self.stats.add("office_priority_changes")
            return True
        return False

    def technician_ids(self, devices: list[Device]) -> dict[str, str]:
        """Technician record id of each device's user (logs the devices in)."""
        techs = _pages(self.client, "/api/v1/technicians", {}, "office")
        by_user = {t["user_id"]: t["id"] for t in techs}
        out = {}
        for d in devices:
            d.client.login()
            out[d.device_id] = by_user[d.client.user["id"]]
        return out

    def orders_of(self, technician_id: str) -> list[dict[str, Any]]:
        """The technician's work orders (lead or helper) as the REST API lists them."""
        return _pages(
            self.client, "/api/v1/work-orders", {"technician_id": technician_id}, "office"
        )

    def share_orders(
        self,
        devices: list[Device],
        technician_ids: dict[str, str],
        orders: dict[str, list[dict[str, Any]]],
        count: int,
    ) -> None:
        """Make device i+1's technician a helper on an open order led by device i's, so two
        devices edit the same columns of the same orders (same-field conflicts)."""
        for i in range(min(count, len(devices))):
            lead, helper = devices[i], devices[(i + 1) % len(devices)]
            lead_id, helper_id = technician_ids[lead.device_id], technician_ids[helper.device_id]
            candidates = [
                o
                for o in orders[lead.device_id]
                if o["lead_technician_id"] == lead_id
                and o["status"] in ("scheduled", "dispatched")
                and helper_id not in o["helper_ids"]
            ]
            for order in candidates:
                r = self.client.call("GET", f"/api/v1/work-orders/{order['id']}", kind="office")
                helpers = [*r.json()["helper_ids"], helper_id]
                r = self.client.call(
                    "PATCH",
                    f"/api/v1/work-orders/{order['id']}",
                    kind="office",
                    body={"helper_ids": helpers},
                    headers={"If-Match": r.headers["ETag"]},
                    accept=(200, 409, 412, 422),
                )
                if r.status_code == 200:
                    self.stats.add("office_shared_orders")
                    orders[helper.device_id].append(r.json())
                    break

    def reassign(self, order_id: str, lead_id: str, technician_id: str) -> bool:
        """Move an order from one lead to another technician; refused moves are skipped."""
        r = self.client.call("GET", f"/api/v1/work-orders/{order_id}", kind="office")
        if r.status_code != 200:
            return False
        before = r.json()
        if before["lead_technician_id"] != lead_id or technician_id in before["helper_ids"]:
            return False
        r = self.client.call(
            "PATCH",
            f"/api/v1/work-orders/{order_id}",
            kind="office",
            body={"lead_technician_id": technician_id},
            headers={"If-Match": r.headers["ETag"]},
            accept=(200, 409, 412, 422),
        )
        if r.status_code != 200:
            self.stats.add("office_reassign_refused")
            return False
        self.stats.add("office_reassignments")
        self.reassigned.append(
            {"order": order_id, "from": before["lead_technician_id"], "to": technician_id}
        )
        return True


# --- the run --------------------------------------------------------------------------------
@dataclass
class ChaosResult:
    """What happened and whether every invariant held."""

    config: ChaosConfig
    duration_s: float
    kills: int
    counts: dict[str, int]
    statuses: dict[str, int]
    conflicts_logged: int
    invariants: dict[str, dict[str, Any]]
    anomalies: dict[str, list[dict[str, Any]]]
    reassigned: list[dict[str, str]]

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return all(v["ok"] for v in self.invariants.values())

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (bench results, test failure messages)."""
        return {
            "config": asdict(self.config),
            "duration_s": round(self.duration_s, 2),
            "kills": self.kills,
            "counts": self.counts,
            "statuses": self.statuses,
            "conflicts_logged": self.conflicts_logged,
            "invariants": self.invariants,
            "anomalies": self.anomalies,
            "reassigned": self.reassigned,
        }

    def summary(self) -> str:
        """A few lines for humans."""
        c = self.counts
        lines = [
            f"sync chaos: {self.config.devices} devices x {self.config.edits} edits, "
            f"seed {self.config.seed}, {self.duration_s:.1f}s",
            f"  pushes {c.get('pushes', 0)} (attempts {c.get('push_attempts', 0)}, retries "
            f"{c.get('retries', 0)}), pulls {c.get('pulls', 0)}, kills {self.kills}, "
            f"connection errors {c.get('connection_errors', 0)}",
            "  faults: "
            + ", ".join(f"{k[6:]} {v}" for k, v in sorted(c.items()) if k.startswith("fault_")),
            f"  office: priority changes {c.get('office_priority_changes', 0)}, reassignments "
            f"{c.get('office_reassignments', 0)}; conflicts logged {self.conflicts_logged}",
        ]
        for name, result in self.invariants.items():
            lines.append(f"  {'PASS' if result['ok'] else 'FAIL'} {name}: {result['summary']}")
        return "\n".join(lines)


def run_chaos(
    config: ChaosConfig, workdir: Path, log: Callable[[str], None] = lambda _m: None
) -> ChaosResult:
    """Build a database, start the server, run the devices and the faults, verify."""
    database_url = build_database(workdir)
    server = ServerProcess(workdir, database_url)
    with server:
        return _run(config, server, log)


def _run(config: ChaosConfig, server: ServerProcess, log: Callable[[str], None]) -> ChaosResult:
    stats = Stats()
    base = server.base_url
    started = time.monotonic()
    devices = [Device(i, base, config, stats) for i in range(config.devices)]
    office = Office(base, stats, config.seed)
    total = config.devices * config.edits
    stop = threading.Event()
    progress_cv = threading.Condition()

    def progress(n: int) -> None:
        with progress_cv:
            stats.progress += n
            progress_cv.notify_all()

    def killer() -> None:
        for k in range(1, config.kills + 1):
            threshold = total * k // (config.kills + 1)
            with progress_cv:
                while stats.progress < threshold and not stop.is_set():
                    progress_cv.wait(timeout=0.2)
            if stats.progress < threshold:
                return
            server.kill()
            log(f"killed the server at {stats.progress}/{total} edits")
            time.sleep(config.downtime_s)
            server.start()
            log(f"restarted the server on port {server.port}")

    # The office's view: technician record ids and each device's orders (REST, up front).
    technician_ids = office.technician_ids(devices)
    orders = {d.device_id: office.orders_of(technician_ids[d.device_id]) for d in devices}
    office.share_orders(devices, technician_ids, orders, config.shared_orders)
    pool = sorted(
        {
            o["id"]
            for listed in orders.values()
            for o in listed
            if o["status"] not in ("completed", "closed", "cancelled")
        }
    )

    def office_loop() -> None:
        planned = [
            total * (k + 1) // (config.reassignments + 1) for k in range(config.reassignments)
        ]
        while not stop.is_set():
            time.sleep(office.rng.uniform(0.02, 0.1))
            if planned and stats.progress >= planned[0]:
                planned.pop(0)
                for _ in range(10):
                    source, target = office.rng.sample(devices, 2)
                    mine = [
                        o["id"]
                        for o in orders[source.device_id]
                        if o["status"] in ("scheduled", "dispatched")
                        and o["lead_technician_id"] == technician_ids[source.device_id]
                    ]
                    if mine and office.reassign(
                        office.rng.choice(mine),
                        technician_ids[source.device_id],
                        technician_ids[target.device_id],
                    ):
                        break
                continue
            if config.office_edits and pool:
                office.change_priority(office.rng.choice(pool))

    def device_main(device: Device) -> None:
        try:
            device.run(progress)
        except BaseException as exc:  # noqa: BLE001 - reported, and fails the run
            device.error = exc
            progress(config.edits)

    threads = [threading.Thread(target=device_main, args=(d,), name=d.device_id) for d in devices]
    helpers = [threading.Thread(target=killer, name="killer")]
    if config.office_edits or config.reassignments:
        helpers.append(threading.Thread(target=office_loop, name="office"))
    for t in threads + helpers:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    errors = [f"{d.device_id}: {d.error!r}" for d in devices if d.error is not None]
    log(f"devices done in {time.monotonic() - started:.1f}s; settling")
    # Final clean sync: everyone until nothing is pending, then everyone pulls once more.
    settle_rounds = {d.device_id: d.settle() for d in devices if d.error is None}
    for d in devices:
        if d.error is None:
            d.pull()
    duration = time.monotonic() - started
    log(f"settled in {max(settle_rounds.values(), default=0)} rounds; verifying")
    invariants, conflicts_logged = verify(devices, office, stats, base)
    invariants["devices_finished"] = {
        "ok": not errors,
        "summary": f"{config.devices - len(errors)}/{config.devices} devices finished",
        "detail": errors,
    }
    return ChaosResult(
        config=config,
        duration_s=duration,
        kills=server.kills,
        counts=dict(stats.counts),
        statuses=dict(sorted(stats.statuses.items())),
        conflicts_logged=conflicts_logged,
        invariants=invariants,
        anomalies={
            "server_errors": stats.server_errors,
            "unexpected": stats.unexpected,
            "answer_mismatches": stats.answer_mismatches,
        },
        reassigned=office.reassigned,
    )


# --- verification ----------------------------------------------------------------------------
def _norm(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _fresh_pull(device: Device) -> dict[str, Any]:
    """A full pull of the device's technician from a brand-new install."""
    probe = Client(device.client.base_url, device.email, device.stats, f"{device.device_id}-v")
    r = probe.call("GET", SYNC, kind="verify", params={"last_pulled_at": "null"})
    r.raise_for_status()
    changes: dict[str, Any] = r.json()["changes"]
    return changes


def verify(
    devices: list[Device], office: Office, stats: Stats, base_url: str
) -> tuple[dict[str, dict[str, Any]], int]:
    """Check the invariants; returns their results and the number of conflicts logged."""
    results: dict[str, dict[str, Any]] = {}
    live = [d for d in devices if d.error is None]
    fresh = {d.device_id: _fresh_pull(d) for d in live}

    # 1. convergence
    diffs: list[str] = []
    for d in live:
        server_rows = {
            table: {r["id"]: r for b in ("created", "updated") for r in buckets[b]}
            for table, buckets in fresh[d.device_id].items()
        }
        local = d.snapshot()
        for table in sorted(set(server_rows) | set(local)):
            theirs, mine = server_rows.get(table, {}), local.get(table, {})
            for row_id in sorted(set(theirs) | set(mine)):
                a, b = mine.get(row_id), theirs.get(row_id)
                if a != b:
                    columns = (
                        sorted(c for c in set(a) | set(b) if a.get(c) != b.get(c))
                        if a is not None and b is not None
                        else "missing on device"
                        if a is None
                        else "not on server"
                    )
                    diffs.append(f"{d.device_id} {table}/{row_id}: {columns}")
    results["converged"] = {
        "ok": not diffs,
        "summary": f"{len(live)} replicas vs fresh full pulls, {len(diffs)} differing rows",
        "detail": diffs[:40],
    }
    # A pull that deletes a row holding unpushed edits destroys them (WatermelonDB does).
    dropped = {d.device_id: d.dropped_pending for d in live if d.dropped_pending}
    results["no_pending_edit_dropped"] = {
        "ok": not dropped,
        "summary": f"{sum(dropped.values())} rows with unpushed edits deleted by a pull",
        "detail": [f"{device}: {n}" for device, n in sorted(dropped.items())],
    }

    # Server values of every work order any device has touched.
    server_orders: dict[str, dict[str, Any]] = {}
    for changes in fresh.values():
        for r in changes["work_orders"]["created"]:
            server_orders[r["id"]] = r
    conflicts = _pages(office.client, f"{SYNC}/conflicts", {"table_name": "work_orders"}, "verify")
    all_conflicts = _pages(office.client, f"{SYNC}/conflicts", {}, "verify")

    # 2. no lost device-owned edit
    overwritten = {
        (
            c["row_id"],
            c["column"],
            json.dumps(_norm(c["column"], c["server_value"]), sort_keys=True),
        )
        for c in conflicts
        if c["kind"] == "same_field" and c["kept"] == "device"
    }
    seen_by_writer: dict[tuple[str, str, str], set[str]] = {}
    for d in live:
        for e in d.edits:
            base = json.dumps(_norm(e.column, e.base), sort_keys=True)
            seen_by_writer.setdefault((e.row_id, e.column, base), set()).add(e.device)
    lost: list[str] = []
    checked = overwritten_ok = sequential_ok = 0
    for d in live:
        for (row_id, column), value in sorted(d.pushed_values.items()):
            checked += 1
            server = server_orders.get(row_id)
            if server is None:
                r = office.client.call("GET", f"/api/v1/work-orders/{row_id}", kind="verify")
                server_value: Any = r.json().get(column)
                if column in JSON_COLUMNS and not isinstance(server_value, str):
                    server_value = json.dumps(server_value)
            else:
                server_value = server[column]
            if _norm(column, server_value) == _norm(column, value):
                continue
            key = (row_id, column, json.dumps(_norm(column, value), sort_keys=True))
            if key in overwritten:
                overwritten_ok += 1
            elif seen_by_writer.get(key, set()) - {d.device_id}:
                sequential_ok += 1
            else:
                lost.append(
                    f"{d.device_id} work_orders/{row_id}.{column}: pushed {value!r}, "
                    f"server has {server_value!r}, no conflict-log entry keeps it"
                )
    on_server = checked - len(lost) - overwritten_ok - sequential_ok
    results["no_lost_device_edit"] = {
        "ok": not lost,
        "summary": f"{checked} last-pushed values: {on_server} on the server, "
        f"{overwritten_ok} overwritten and logged, {sequential_ok} replaced by a writer "
        f"who had seen them, {len(lost)} lost",
        "detail": lost[:40],
    }

    # 3. append-only rows: each client UUID exactly once, unmodified, nothing extra
    problems: list[str] = []
    created_by_order: dict[tuple[str, str], set[str]] = {}
    created_rows: dict[str, dict[str, Any]] = {}
    for d in live:
        for table, rows in d.created.items():
            for row_id, values in rows.items():
                created_by_order.setdefault((table, values["work_order_id"]), set()).add(row_id)
                created_rows[row_id] = values
    server_children: dict[tuple[str, str], set[str]] = {}
    server_child_rows: dict[str, dict[str, Any]] = {}
    occurrences: Counter[str] = Counter()
    for changes in fresh.values():
        for table in APPEND_TABLES:
            ids_in_pull = [r["id"] for r in changes[table]["created"]]
            for row_id, n in Counter(ids_in_pull).items():
                if n > 1:
                    problems.append(f"{table}/{row_id} appears {n} times in one pull")
            for r in changes[table]["created"]:
                server_children.setdefault((table, r["work_order_id"]), set()).add(r["id"])
                server_child_rows[r["id"]] = r
                occurrences[r["id"]] += 1
    baseline = {k: v for k, v in _baseline_children(devices).items() if k in created_by_order}
    for (table, order_id), ids in sorted(created_by_order.items()):
        on_server = server_children.get((table, order_id))
        if on_server is None:
            problems.append(f"{table} of order {order_id}: order not in any final pull")
            continue
        expected = ids | baseline.get((table, order_id), set())
        if on_server != expected:
            problems.append(
                f"{table} of order {order_id}: {len(on_server)} on the server, expected "
                f"{len(expected)} (missing {sorted(expected - on_server)[:3]}, extra "
                f"{sorted(on_server - expected)[:3]})"
            )
    for row_id, values in created_rows.items():
        server_row = server_child_rows.get(row_id)
        if server_row is None:
            continue
        for column, value in values.items():
            if value is not None and server_row.get(column) != value:
                problems.append(
                    f"{row_id}.{column}: sent {value!r}, stored {server_row.get(column)!r}"
                )
    results["no_duplicate_rows"] = {
        "ok": not problems,
        "summary": f"{len(created_rows)} client UUIDs on {len(created_by_order)} order/table "
        f"pairs, {len(problems)} problems",
        "detail": problems[:40],
    }

    # 4-6. answers
    with stats.lock:
        server_errors = list(stats.server_errors)
        unexpected = list(stats.unexpected)
        mismatches = list(stats.answer_mismatches)
    results["no_5xx"] = {
        "ok": not server_errors,
        "summary": f"{stats.counts.get('server_errors', 0)} 5xx answers, "
        f"{stats.counts.get('connection_errors', 0)} connection errors (server down or cut)",
        "detail": server_errors[:20],
    }
    results["idempotent_answers"] = {
        "ok": not mismatches,
        "summary": f"{stats.counts.get('fault_duplicate', 0)} duplicates, "
        f"{stats.counts.get('fault_replay', 0)} replays, "
        f"{stats.counts.get('fault_concurrent_duplicate', 0)} concurrent duplicates, "
        f"{len(mismatches)} different answers",
        "detail": mismatches[:20],
    }
    results["no_unexpected_4xx"] = {
        "ok": not unexpected,
        "summary": f"{len(unexpected)} unexpected answers",
        "detail": unexpected[:20],
    }
    return results, len(all_conflicts)


def _baseline_children(devices: list[Device]) -> dict[tuple[str, str], set[str]]:
    """Append-only rows that existed before the run (the seed's), by table and order."""
    out: dict[tuple[str, str], set[str]] = {}
    for d in devices:
        for key, ids in d.baseline.items():
            out.setdefault(key, set()).update(ids)
    return out
