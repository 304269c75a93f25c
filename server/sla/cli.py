"""flask commands of the SLA domain."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
