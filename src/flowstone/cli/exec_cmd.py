"""``flowstone exec FLOW_FILE ARGS...``: run a flow file written for Metaflow, unmodified.

Every ``metaflow`` import of the file, and of the task processes forked from it, is served by flowstone
(``flowstone.compat.metaflow_alias``); then the file runs as ``python FLOW_FILE ARGS...`` would run it.
"""

from __future__ import annotations

import os
import runpy
import sys

import click

from flowstone.compat.metaflow_alias import install

__all__ = ["exec_command"]


@click.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False, "help_option_names": []},
)
@click.argument("flow_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def exec_command(flow_file: str, args: tuple[str, ...]) -> None:
    """Run FLOW_FILE (written for Metaflow: `import metaflow` stays as it is) with flowstone, e.g.
    `flowstone exec flow.py run --alpha 0.5`. Everything after FLOW_FILE goes to the flow's own command line."""
    install()
    sys.argv = [flow_file, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(flow_file)))  # its sibling modules, as `python flow.py`
    runpy.run_path(flow_file, run_name="__main__")
