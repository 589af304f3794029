"""Flow-file commands that inspect past runs: dump, logs, tag."""

from __future__ import annotations

import click

__all__ = ["add_commands"]


def add_commands(cli: click.Group) -> None:
    """Attach the inspection commands to a flow's command group."""
