"""Chaos test of offline sync (reduced size for CI): see ``tests/e2e/chaos.py``.

Six simulated WatermelonDB devices (seeded technicians, their own device ids and local
replicas) make 25 offline edits each against a real server process on loopback, through
duplicated, replayed, reordered and response-lost pushes, connections cut mid-request and
the server SIGKILLed and restarted on the same port and database, while a dispatcher edits
priorities and reassigns an order. Afterwards every replica must equal the server's view,
no device-owned edit may be lost, and no append-only row may be duplicated.

Deterministic seeds (``CI_CONFIG.seed``); ``bench/sync_chaos.py`` runs the full size.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.chaos import CI_CONFIG, ChaosResult, run_chaos

pytestmark = pytest.mark.e2e

INVARIANTS = (
    "devices_finished",
    "converged",
    "no_lost_device_edit",
    "no_pending_edit_dropped",
    "no_duplicate_rows",
    "no_5xx",
    "idempotent_answers",
    "no_unexpected_4xx",
)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> ChaosResult:
    """One reduced chaos run (a fresh database and server of its own)."""
    result = run_chaos(CI_CONFIG, tmp_path_factory.mktemp("sync-chaos"), log=print)
    print(result.summary())
    return result


@pytest.mark.parametrize("name", INVARIANTS)
def test_invariant_holds(chaos: ChaosResult, name: str) -> None:
    """Each invariant, reported separately (details of the first failures in the message)."""
    result = chaos.invariants[name]
    assert result["ok"], f"{name}: {result['summary']}\n" + json.dumps(
        result["detail"], indent=1, default=str
    )


def test_the_chaos_really_happened(chaos: ChaosResult) -> None:
    """The run exercised every fault and finished well within the CI budget."""
    counts = chaos.counts
    assert chaos.kills >= CI_CONFIG.kills >= 1
    assert counts["connection_errors"] > 0  # clients saw the server down and retried
    for fault in (
        "fault_duplicate",
        "fault_concurrent_duplicate",
        "fault_replay",
        "fault_reorder",
        "fault_lost_response",
        "fault_disconnect",
    ):
        assert counts.get(fault, 0) > 0, fault
    assert counts["pushes"] >= CI_CONFIG.devices
    assert counts.get("office_priority_changes", 0) > 0
    assert counts.get("office_shared_orders", 0) > 0
    # Duration is a benchmark figure (bench/sync_chaos.py), not a pass/fail criterion here;
    # this bound only catches a hang well before CI's own limit.
    assert chaos.duration_s < 600
