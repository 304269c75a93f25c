"""flask commands of the SLA domain: one scheduler pass, or the scheduler as a worker."""

from __future__ import annotations

import time

import click

from server.sla.scheduler import DEFAULT_BATCH, TickReport


def _describe(report: TickReport) -> str:
    return (
        f"sla: {report.orders} orders, {report.warnings} warnings, {report.breaches} breaches, "
        f"{report.escalations} escalations, {report.notifications} notifications"
    )


def run_pass(limit: int) -> TickReport:
    """One scheduler pass on a fresh session (commands and the in-process thread)."""
    from server.db import db
    from server.sla.scheduler import run_due

    try:
        return run_due(db_session=db.session(), limit=limit)
    finally:
        db.session.remove()


@click.command("sla-tick")
@click.option("--limit", default=DEFAULT_BATCH, show_default=True, help="Orders per transaction.")
def sla_tick(limit: int) -> None:
    """One scheduler pass: due SLA warnings, breaches and escalations of every tenant."""
    click.echo(_describe(run_pass(limit)))


@click.command("sla-worker")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between passes.")
@click.option("--limit", default=DEFAULT_BATCH, show_default=True, help="Orders per transaction.")
def sla_worker(interval: float, limit: int) -> None:
    """Run the SLA scheduler in a loop (safe to run several: orders are locked, skip-locked)."""
    click.echo(f"sla worker: a pass every {interval:g} s")
    while True:
        try:
            report = run_pass(limit)
        except Exception as exc:  # a lost connection must not end the worker
            click.echo(f"sla worker: pass failed: {exc!r}", err=True)
        else:
            if report.orders:
                click.echo(_describe(report))
        time.sleep(interval)


COMMANDS: list[click.Command] = [sla_tick, sla_worker]
