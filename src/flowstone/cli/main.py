"""The standalone ``flowstone`` command: inspect flows and runs without their flow files."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from flowstone import __version__
from flowstone.cli import inspect_cmds, maintenance_cmds
from flowstone.cli.card_cmds import card_group
from flowstone.cli.exec_cmd import exec_command
from flowstone.cli.ui_cmd import ui_command
from flowstone.client import context
from flowstone.client.runs import Flow, Metaflow, Run
from flowstone.client.tasks import Step, Task
from flowstone.errors import FlowstoneException
from flowstone.settings import SHARED_DATASTORE_TYPES, Settings, datastore_type_of_root

__all__ = ["main"]


class _State:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 1000  # piped output: never wrap or cut table rows
    return console


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _when(moment: datetime | None) -> str:
    """A client time (naive, local) as the tables show it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "-"
    seconds = ((end or datetime.now()) - start).total_seconds()
    text = f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"
    return text if end else f"{text}+"


def _unfinished(task: Task) -> str:
    """A task without a completed attempt: running, or not started (no attempt recorded yet)."""
    return "running" if task.created_at is not None else "not started"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="flowstone")
@click.option("--datastore", type=click.Choice(SHARED_DATASTORE_TYPES), default=None, help="Datastore type to read.")
@click.option("--datastore-root", default=None, help="Datastore root (default: .flowstone found from here up).")
@click.pass_context
def cli(ctx: click.Context, datastore: str | None, datastore_root: str | None) -> None:
    """Inspect flows and runs in a flowstone datastore."""
    datastore = datastore or datastore_type_of_root(datastore_root)
    overrides: dict[str, Any] = {"default_datastore": datastore} if datastore else {}
    settings = Settings.from_env(**overrides)
    if datastore_root:
        settings = settings.replace(**{f"datastore_sysroot_{settings.default_datastore}": datastore_root})
    ctx.obj = _State(settings)
    if ctx.invoked_subcommand != "exec":  # exec runs a flow file, whose own options choose its datastore
        context.datastore(settings.default_datastore, settings.datastore_root())


@cli.command("flows", help="List the flows in the datastore with their latest run.")
@click.option("--all-namespaces", "-A", is_flag=True, help="Count every user's runs, not only yours.")
def flows_cmd(all_namespaces: bool) -> None:
    if all_namespaces:
        context.namespace(None)
    table = _table("flow", "runs", "latest run", "status", "started")
    for flow in Metaflow():
        runs = list(flow)
        latest = runs[0] if runs else None
        table.add_row(flow.id, str(len(runs)), latest.id if latest else "-", latest.status if latest else "-",
                      _when(latest.created_at) if latest else "-")  # fmt: skip
    _console().print(table)


@cli.command("runs", help="List the runs of FLOW, newest first: status, start, duration, user, tags.")
@click.argument("flow_name")
@click.option("--all-namespaces", "-A", is_flag=True, help="Every user's runs, not only yours.")
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="At most this many runs (0: all).")
def runs_cmd(flow_name: str, all_namespaces: bool, limit: int) -> None:
    if all_namespaces:
        context.namespace(None)
    table = _table("run", "status", "started", "duration", "user", "tags")
    for count, run in enumerate(Flow(flow_name), 1):
        if limit and count > limit:
            break
        user = next((t[5:] for t in run.system_tags if t.startswith("user:")), "-")
        state = run._state
        ended = datetime.fromtimestamp(state.ended_at) if state.ended_at else None
        duration = "-" if state.status == "interrupted" and ended is None else _duration(run.created_at, ended)
        table.add_row(run.id, state.status, _when(run.created_at), duration, user,
                      ", ".join(sorted(run.user_tags)))  # fmt: skip
    _console().print(table)


@cli.command(
    "show", help="Show a run's steps, a step's tasks or a task's artifacts (PATHSPEC: Flow/run[/step[/task]])."
)
@click.argument("pathspec")
def show_cmd(pathspec: str) -> None:
    context.namespace(None)
    depth = len(pathspec.strip("/").split("/"))
    console = _console()
    if depth == 2:
        run = Run(pathspec)
        console.print(f"[bold]{run.pathspec}[/bold]  {run.status}  started {_when(run.created_at)}")
        table = _table("step", "tasks", "done", "finished")
        for step in reversed(list(run)):  # from the start step on
            tasks = list(step)
            table.add_row(step.id, str(len(tasks)), str(sum(t.finished for t in tasks)), _when(step.finished_at))
        console.print(table)
    elif depth == 3:
        table = _table("task", "attempt", "status", "started", "duration")
        for task in reversed(list(Step(pathspec))):  # oldest first
            status = "done" if task.finished else ("failed" if task.exception else _unfinished(task))
            table.add_row(task.id, str(task.current_attempt), status, _when(task.created_at),
                          _duration(task.created_at, task.finished_at))  # fmt: skip
        console.print(table)
    elif depth == 4:
        task = Task(pathspec)
        console.print(f"[bold]{task.pathspec}[/bold]  attempt {task.current_attempt}  "
                      f"{'done' if task.finished else 'not finished'}")  # fmt: skip
        table = _table("artifact", "type", "size", "sha")
        for artifact in task:
            table.add_row(artifact.id, artifact.type, _size(artifact.size), artifact.sha[:16])
        console.print(table)
    else:
        raise FlowstoneException(f"'{pathspec}' is not a run, step or task pathspec (Flow/run[/step[/task]]).")


inspect_cmds.add_commands(cli)
maintenance_cmds.add_commands(cli)
cli.add_command(exec_command)
cli.add_command(card_group)
cli.add_command(ui_command)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FlowstoneException as exc:
        click.echo(f"{exc.headline}: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
