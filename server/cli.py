"""Flask CLI commands: migrations, demo data, workers and housekeeping."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> AlembicConfig:
    """Alembic config pointing at this repo's migrations and the given database."""
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def register_commands(app: Flask) -> None:
    """Attach the project's commands to ``flask``."""
    from server.sla.cli import COMMANDS as SLA_COMMANDS

    for sla_command in SLA_COMMANDS:
        app.cli.add_command(sla_command)

    @app.cli.command("db-upgrade")
    @click.option("--revision", default="head")
    def db_upgrade(revision: str) -> None:
        """Apply migrations to DATABASE_URL."""
        upgrade_database(current_app.config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}")

    @app.cli.command("sync-prune")
    @click.option("--days", type=int, default=None, help="Override SYNC_TOMBSTONE_DAYS.")
    def sync_prune(days: int | None) -> None:
        """Drop sync change-log entries older than the tombstone window (run daily)."""
        import datetime as dt

        from sqlalchemy import select

        from server.db import db
        from server.sync.feed import prune, sequence
        from server.tenants.models import Tenant

        window = days if days is not None else current_app.config["SYNC_TOMBSTONE_DAYS"]
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=window)
        session = db.session()
        session.info["system"] = True
        total = 0
        for tenant_id in list(session.scalars(select(Tenant.id))):
            sequence(session, tenant_id)  # only numbered entries can be pruned safely
            session.commit()
            total += prune(session, tenant_id, cutoff)
        click.echo(f"pruned {total} change-log entries older than {window} days")

    @app.cli.command("outbox-prune")
    @click.option(
        "--days", type=click.IntRange(min=0), default=None, help="Override OUTBOX_RETENTION_DAYS."
    )
    def outbox_prune(days: int | None) -> None:
        """Delete delivered and given-up push notifications older than the retention (daily)."""
        import datetime as dt

        from server.db import db
        from server.notifications.worker import prune_outbox

        window = days if days is not None else int(current_app.config["OUTBOX_RETENTION_DAYS"])
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=window)
        try:
            total = prune_outbox(db_session=db.session(), older_than=cutoff)
        finally:
            db.session.remove()
        click.echo(f"pruned {total} finished outbox rows older than {window} days")

    @app.cli.command("blobs-gc")
    @click.option(
        "--hours",
        type=click.IntRange(min=1),
        default=None,
        help="Override BLOB_ORPHAN_GRACE_HOURS.",
    )
    @click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
    def blobs_gc(hours: int | None, dry_run: bool) -> None:
        """Delete uploaded photos that nothing references after the grace period (daily)."""
        import datetime as dt

        from server.blobs.gc import collect_garbage
        from server.blobs.storage import storage_from_config
        from server.db import db

        grace = hours if hours is not None else int(current_app.config["BLOB_ORPHAN_GRACE_HOURS"])
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=grace)
        try:
            report = collect_garbage(
                db_session=db.session(),
                storage=storage_from_config(current_app.config),
                older_than=cutoff,
                dry_run=dry_run,
            )
        finally:
            db.session.remove()
        if dry_run:
            for orphan in report.orphans:
                click.echo(
                    f"{orphan.tenant_id} {orphan.sha256} {orphan.size_bytes} bytes, "
                    f"uploaded {orphan.created_at.isoformat()}"
                )
            click.echo(
                f"dry run: {report.found} orphan blobs older than {grace} h would be deleted "
                f"({report.size_bytes} bytes), {report.staging_removed} stale temp files"
            )
            return
        click.echo(
            f"deleted {report.deleted} orphan blobs older than {grace} h "
            f"({report.size_bytes} bytes, {report.objects_removed} stored objects); "
            f"kept {report.kept + report.reuploaded} referenced or re-uploaded meanwhile; "
            f"removed {report.staging_removed} stale temp files"
        )
        if report.failed_keys:
            # The rows are gone, so nothing will retry these: name them for a manual delete.
            raise click.ClickException(
                f"{len(report.failed_keys)} stored objects could not be removed: "
                + ", ".join(report.failed_keys)
            )

    @app.cli.command("seed")
    @click.option("--if-empty", is_flag=True, help="Do nothing when a tenant already exists.")
    def seed(if_empty: bool) -> None:
        """Load the deterministic demo tenants."""
        from server.seed import seed_demo

        summary = seed_demo(if_empty=if_empty)
        click.echo(summary)

    @app.cli.command("dispatch-worker")
    @click.option("--once", is_flag=True, help="Process at most one queued run, then exit.")
    @click.option("--interval", default=2.0, show_default=True, help="Seconds between polls.")
    def dispatch_worker(once: bool, interval: float) -> None:
        """Run queued optimisation runs (the worker mode: DISPATCH_RUNNER=worker)."""
        import time

        from server.db import db
        from server.dispatch.service import claim_next_run, execute_run

        click.echo("dispatch worker: waiting for runs")
        while True:
            session = db.factory()
            try:
                run = claim_next_run(session)
                if run is not None:
                    click.echo(f"run {run.id}: solving for {run.time_limit_s} s")
                    execute_run(session, run, progress_session=db.factory)
                    click.echo(f"run {run.id}: {run.status}")
            finally:
                session.close()
            if once:
                return
            if run is None:
                time.sleep(interval)

    @app.cli.command("notifications-deliver")
    @click.option("--loop", is_flag=True, help="Keep polling instead of one pass.")
    @click.option("--interval", default=2.0, show_default=True, help="Seconds between polls.")
    @click.option("--limit", default=None, type=int, help="Rows per pass (default: config).")
    def notifications_deliver(loop: bool, interval: float, limit: int | None) -> None:
        """Send due push notifications from the outbox (after commit, outside requests)."""
        import time

        from server.db import db
        from server.notifications.sender import make_sender
        from server.notifications.worker import deliver_pending

        config = current_app.config
        sender = make_sender(config)
        batch = limit or config["NOTIFICATIONS_BATCH_SIZE"]
        click.echo(f"notifications: delivering with {type(sender).__name__}")
        while True:
            try:
                report = deliver_pending(
                    db.session(),
                    sender,
                    limit=batch,
                    max_attempts=config["NOTIFICATIONS_MAX_ATTEMPTS"],
                )
            finally:
                db.session.remove()
            if report.picked:
                click.echo(
                    f"picked {report.picked}: sent {report.sent}, retrying {report.retrying}, "
                    f"gave up {report.gave_up}, revoked tokens {report.revoked_tokens}"
                )
            if not loop:
                return
            if report.picked < batch:  # a full batch means more are due: go again now
                time.sleep(interval)
