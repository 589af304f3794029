"""Commands that inspect past runs: ``dump``, ``logs`` and ``tag``, for a flow file's command line and for the
standalone ``flowstone`` command (where the flow name is part of the pathspec)."""

from __future__ import annotations

import pickle
import reprlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from flowstone.errors import FlowstoneException

if TYPE_CHECKING:
    from flowstone.client.runs import Run
    from flowstone.client.tasks import Task

# The client is imported inside the commands: a flow file's `run` should not pay for it.

__all__ = ["add_commands", "dump_command", "logs_command", "resolve_tasks"]


def _use_datastore(ctx: click.Context) -> None:
    """Point the client at the datastore the command line chose, and show every namespace."""
    from flowstone.client import context

    settings = getattr(ctx.obj, "settings", None)
    if settings is not None:
        ds_type = settings.default_datastore
        context.datastore(ds_type, settings.datastore_root(ds_type))
    context.namespace(None)


def resolve_tasks(pathspec: str) -> Iterator[Task]:
    """The tasks named by ``Flow/run/step`` (all of the step's tasks) or ``Flow/run/step/task``."""
    from flowstone.client.tasks import Step, Task

    parts = pathspec.strip("/").split("/")
    if len(parts) == 4:
        yield Task(pathspec)
    elif len(parts) == 3:
        tasks = list(Step(pathspec))
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
    _use_datastore(ctx)
    wanted = {n.strip() for n in include.split(",")} if include else None
    collected: dict[str, dict[str, Any]] = {}
    for task in resolve_tasks(_full_pathspec(ctx, pathspec)):
        artifacts = [a for a in task if (private or not a.id.startswith("_")) and (wanted is None or a.id in wanted)]
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


@click.command("logs", help="Print the logs of a step's tasks or of one task (PATHSPEC: RUN/STEP[/TASK]).")
@click.argument("pathspec")
@click.option("--stdout", "which", flag_value="stdout", help="Only standard output.")
@click.option("--stderr", "which", flag_value="stderr", help="Only standard error.")
@click.option("--attempt", type=int, default=None, help="This attempt instead of the latest one.")
@click.pass_context
def logs_command(ctx: click.Context, pathspec: str, which: str | None, attempt: int | None) -> None:
    _use_datastore(ctx)
    streams = [which] if which else ["stdout", "stderr"]
    for task in resolve_tasks(_full_pathspec(ctx, pathspec)):
        if attempt is not None:
            task = type(task)(task.pathspec, attempt=attempt)
        datastore = task._get_datastore()
        for stream in streams:
            text = datastore.load_log(stream)
            if text:
                click.echo(text, nl=False, err=stream == "stderr")


@click.command("why", help="Say why tasks ran or reused earlier results (PATHSPEC: RUN/STEP[/TASK]).")
@click.argument("pathspec")
@click.pass_context
def why_command(ctx: click.Context, pathspec: str) -> None:
    from flowstone.runtime.explain import explain_task

    _use_datastore(ctx)
    for task in resolve_tasks(_full_pathspec(ctx, pathspec)):
        for line in explain_task(task._fds, task._get_datastore()):
            click.echo(line)


@click.group("tag", help="Add, remove, replace or list the tags of a run.")
def tag_group() -> None:
    pass


def _run_for(ctx: click.Context, run_id: str) -> Run:
    _use_datastore(ctx)
    from flowstone.client.runs import Run

    return Run(_full_pathspec(ctx, run_id))


@tag_group.command("add", help="Add tags to a run.")
@click.option("--run-id", required=True)
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def tag_add(ctx: click.Context, run_id: str, tags: tuple[str, ...]) -> None:
    run = _run_for(ctx, run_id)
    run.add_tags(tags)
    click.echo(f"Tags of {run.pathspec}: {', '.join(sorted(run.user_tags))}")


@tag_group.command("remove", help="Remove tags from a run.")
@click.option("--run-id", required=True)
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def tag_remove(ctx: click.Context, run_id: str, tags: tuple[str, ...]) -> None:
    run = _run_for(ctx, run_id)
    run.remove_tags(tags)
    click.echo(f"Tags of {run.pathspec}: {', '.join(sorted(run.user_tags)) or '(none)'}")


@tag_group.command("replace", help="Replace one tag of a run with another.")
@click.option("--run-id", required=True)
@click.argument("old")
@click.argument("new")
@click.pass_context
def tag_replace(ctx: click.Context, run_id: str, old: str, new: str) -> None:
    run = _run_for(ctx, run_id)
    run.replace_tag(old, new)
    click.echo(f"Tags of {run.pathspec}: {', '.join(sorted(run.user_tags))}")


@tag_group.command("list", help="List a run's tags (user tags, then system tags).")
@click.option("--run-id", required=True)
@click.pass_context
def tag_list(ctx: click.Context, run_id: str) -> None:
    run = _run_for(ctx, run_id)
    click.echo(f"User tags:   {', '.join(sorted(run.user_tags)) or '(none)'}")
    click.echo(f"System tags: {', '.join(sorted(run.system_tags))}")


def add_commands(cli: click.Group) -> None:
    """Attach the inspection commands to a command group."""
    cli.add_command(dump_command)
    cli.add_command(logs_command)
    cli.add_command(tag_group)
    cli.add_command(why_command)
