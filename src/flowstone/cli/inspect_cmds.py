"""Commands that inspect past runs: ``dump``, ``logs`` and ``tag``, for a flow file's command line and for the
standalone ``flowstone`` command (where the flow name is part of the pathspec)."""

from __future__ import annotations

import pickle
import reprlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from flowstone.cli.tag_cmds import tag_group
from flowstone.errors import FlowstoneException

if TYPE_CHECKING:
    from flowstone.client.tasks import Task
    from flowstone.datastore import TaskDataStore

# The client is imported inside the commands: a flow file's `run` should not pay for it.

__all__ = ["add_commands", "dump_command", "logs_command", "resolve_tasks", "show_banner", "use_datastore"]


def use_datastore(ctx: click.Context) -> None:
    """Point the client at the datastore the command line chose, and show every namespace."""
    from flowstone.client import context

    settings = getattr(ctx.obj, "settings", None)
    if settings is not None:
        ds_type = settings.default_datastore
        context.datastore(ds_type, settings.datastore_root(ds_type))
    context.namespace(None)


def show_banner(ctx: click.Context) -> None:
    """A flow file's commands say what they work on, on stderr, unless --quiet (as Metaflow's do)."""
    from flowstone import __version__
    from flowstone.settings import resolve_username

    flow_name = getattr(ctx.obj, "flow_name", None)
    if flow_name and not getattr(ctx.obj, "quiet", False):
        user = resolve_username()
        click.echo(f"flowstone {__version__} executing {flow_name}" + (f" for user:{user}" if user else ""), err=True)


def resolve_tasks(pathspec: str) -> Iterator[Task]:
    """The tasks named by ``Flow/run/step`` (all of the step's tasks) or ``Flow/run/step/task``."""
    from flowstone.client.tasks import Step, Task

    parts = pathspec.strip("/").split("/")
    if len(parts) == 4:
        yield Task(pathspec)
    elif len(parts) == 3:
        tasks = list(reversed(list(Step(pathspec))))  # oldest first
        if not tasks:
            raise FlowstoneException(f"Step '{pathspec}' has no tasks yet.")
        yield from tasks
    else:
        raise FlowstoneException(f"'{pathspec}' names no step or task: use RUN_ID/STEP or RUN_ID/STEP/TASK_ID.")


def _full_pathspec(ctx: click.Context, pathspec: str) -> str:
    flow_name = getattr(ctx.obj, "flow_name", None)
    return f"{flow_name}/{pathspec.strip('/')}" if flow_name else pathspec


def _format_value(value: Any, limit: int) -> str:
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = max(limit, 20)
    shortener.maxlist = shortener.maxdict = shortener.maxtuple = shortener.maxset = 20
    return shortener.repr(value)


@click.command("dump", help="Show the artifacts of a step's tasks or of one task (PATHSPEC: RUN/STEP[/TASK]).")
@click.argument("pathspec")
@click.option("--include", default=None, help="Only these artifacts (comma-separated names).")
@click.option("--private", is_flag=True, default=False, help="Also show artifacts whose names start with '_'.")
@click.option("--max-value-size", type=int, default=1000, show_default=True,
              help="Show values only for artifacts at most this many bytes (serialized); list the others.")  # fmt: skip
@click.option("--file", "out_file", default=None, help="Pickle {pathspec: {name: value}} to this file instead.")
@click.pass_context
def dump_command(ctx: click.Context, pathspec: str, include: str | None, private: bool, max_value_size: int,
                 out_file: str | None) -> None:  # fmt: skip
    use_datastore(ctx)
    show_banner(ctx)
    wanted = {n.strip() for n in include.split(",")} if include else None
    collected: dict[str, dict[str, Any]] = {}
    for task in resolve_tasks(_full_pathspec(ctx, pathspec)):
        names = [n for n in sorted(task._datastore().records) if (private or not n.startswith("_"))]
        artifacts = [task[n] for n in names if wanted is None or n in wanted]
        if out_file:
            collected[task.pathspec] = {a.id: a.data for a in artifacts}
            continue
        click.echo(f"Artifacts of {task.pathspec} (attempt {task.current_attempt}):")
        for artifact in artifacts:
            if artifact.size <= max_value_size:
                click.echo(f"  {artifact.id}: {_format_value(artifact.data, max_value_size)}")
            else:
                click.echo(f"  {artifact.id}: <{artifact.type}, {artifact.size} bytes; raise --max-value-size to show>")
    if out_file:
        with open(out_file, "wb") as f:
            pickle.dump(collected, f)
        click.echo(f"Artifacts of {len(collected)} task(s) written to {out_file}.")


@click.command(
    "logs",
    help="Print the logs of a step's tasks or of one task (PATHSPEC: RUN/STEP[/TASK]). The "
    "log content goes to stdout, whichever the stream; headers to stderr (not with --quiet).",
)
@click.argument("pathspec")
@click.option("--stdout/--no-stdout", "want_stdout", default=False, help="Standard output only (with --stderr: both).")
@click.option("--stderr/--no-stderr", "want_stderr", default=False, help="Standard error only (with --stdout: both).")
@click.option("--both/--no-both", default=True, show_default=True, help="Both streams (unless --stdout or --stderr).")
@click.option(
    "--timestamps/--no-timestamps",
    default=False,
    show_default=True,
    help="Start each line with the local time it was printed.",
)
@click.option("--attempt", type=int, default=None, help="This attempt instead of the latest one.")
@click.pass_context
def logs_command(ctx: click.Context, pathspec: str, want_stdout: bool, want_stderr: bool, both: bool,
                 timestamps: bool, attempt: int | None) -> None:  # fmt: skip
    use_datastore(ctx)
    show_banner(ctx)
    chosen = [s for s, wanted in (("stdout", want_stdout), ("stderr", want_stderr)) if wanted]
    streams = chosen or (["stdout", "stderr"] if both else [])
    quiet = bool(getattr(ctx.obj, "quiet", False))
    for task in resolve_tasks(_full_pathspec(ctx, pathspec)):
        if attempt is not None:
            task = type(task)(task.pathspec, attempt=attempt)
        if not quiet:
            run_id, step, task_id = task.path_components[1:]
            click.echo(f"Dumping logs of run_id={run_id} step={step} task_id={task_id}", err=True)
            if task.origin_pathspec:
                click.echo(f"(reused: this task reused the results of {task.origin_pathspec}; this is the output of "
                           f"that task, when it ran)", err=True)  # fmt: skip
        for stream in streams:
            if not quiet:
                click.echo(stream, err=True)
            _print_log(task._get_datastore(), stream, timestamps)


def _print_log(datastore: TaskDataStore, stream: str, timestamps: bool) -> None:
    if timestamps:
        for when, line in datastore.load_log_lines(stream):
            moment = None if when is None else datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            click.echo(line if moment is None else f"{moment} {line}")
        return
    text = datastore.load_log(stream)  # as printed (only a missing last newline is added)
    click.echo(text if not text or text.endswith("\n") else text + "\n", nl=False)


@click.command("why", help="Say why tasks ran or reused earlier results (PATHSPEC: RUN, RUN/STEP or RUN/STEP/TASK; "
               "for a whole run, every step grouped by what made it run).")  # fmt: skip
@click.argument("pathspec")
@click.pass_context
def why_command(ctx: click.Context, pathspec: str) -> None:
    from flowstone.runtime.explain import explain_task
    from flowstone.runtime.explain_run import explain_run

    use_datastore(ctx)
    full = _full_pathspec(ctx, pathspec)
    if len(full.strip("/").split("/")) == 2:
        from flowstone.client.runs import Run

        run = Run(full)
        lines = explain_run(run._fds, run.id, [step.id for step in reversed(list(run))])
    else:
        lines = (line for task in resolve_tasks(full) for line in explain_task(task._fds, task._get_datastore()))
    for line in lines:
        click.echo(line)


def add_commands(cli: click.Group) -> None:
    """Attach the inspection commands to a command group."""
    cli.add_command(dump_command)
    cli.add_command(logs_command)
    cli.add_command(tag_group)
    cli.add_command(why_command)
