"""``tag add|remove|replace|list``: a run's tags from the command line, as Metaflow's tag command has them.

Changing tags needs ``--run-id`` (without it, the command says which run is your latest) and looks for the run
in your namespace (``--namespace`` for another). ``list`` without a run lists the tags of every run of the flow;
``--flat`` prints one tag per line (on stderr, after the banner, as Metaflow does). Listings go to stdout: a
readable table, or with ``--quiet`` one parseable line per group (``runs ; system tags ; user tags``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from flowstone.errors import FlowstoneException, FlowstoneNamespaceMismatch, FlowstoneNotFound

if TYPE_CHECKING:
    from flowstone.client.runs import Run

__all__ = ["tag_group"]

_HEADER = "\nSystem tags and *tags*; only *tags* can be modified\n" + "-" * 56 + "\n"


def _is_quiet(ctx: click.Context) -> bool:
    return bool(getattr(ctx.obj, "quiet", False))


def _flow_name(ctx: click.Context, pathspec_flow: str | None = None) -> str:
    name = getattr(ctx.obj, "flow_name", None) or pathspec_flow
    if not name:
        raise FlowstoneException("Name the run as FLOW/RUN_ID: the flowstone command has no flow file to take it from.")
    return str(name)


def _split_run_id(ctx: click.Context, run_id: str) -> tuple[str, str]:
    """(flow name, run id) from ``--run-id`` (the flow file's command) or ``FLOW/RUN_ID`` (the flowstone command)."""
    parts = run_id.strip("/").split("/")
    if getattr(ctx.obj, "flow_name", None) is None and len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) != 1:
        raise FlowstoneException(f"Run id '{run_id}' is not a valid run id.")
    return _flow_name(ctx), parts[0]


def _run_to_change(ctx: click.Context, run_id: str | None, user_namespace: str | None) -> Run:
    """The run named by ``--run-id``, looked for in ``user_namespace`` (default: the user's)."""
    from flowstone.cli.inspect_cmds import show_banner, use_datastore
    from flowstone.client import context
    from flowstone.client.runs import Flow, Run
    from flowstone.flow.current import get_username

    use_datastore(ctx)
    show_banner(ctx)
    ns = user_namespace or f"user:{get_username()}"
    context.namespace(ns)
    flow_name = _flow_name(ctx, run_id.split("/")[0] if run_id and "/" in run_id else None)
    try:
        flow = Flow(flow_name)
    except FlowstoneNotFound:
        raise FlowstoneException(f"No run found for {flow_name}: run the flow before tagging.") from None
    except FlowstoneNamespaceMismatch:
        raise FlowstoneException(f"No run found for {flow_name} in namespace {ns}; choose another namespace "
                                 f"with --namespace.") from None  # fmt: skip
    if run_id is None:
        latest = flow.latest_run
        raise FlowstoneException(f"Name the run with --run-id. Your latest run of {flow_name} in namespace {ns} is "
                                 f"{latest.id if latest else '(none)'}.")  # fmt: skip
    flow_name, number = _split_run_id(ctx, run_id)
    try:
        return Run(f"{flow_name}/{number}")
    except FlowstoneNotFound:
        raise FlowstoneException(f"No run {flow_name}/{number} found.") from None
    except FlowstoneNamespaceMismatch:
        raise FlowstoneException(f"Run {flow_name}/{number} is not in namespace {ns}; choose another namespace "
                                 f"with --namespace.") from None  # fmt: skip


def _print_tags(ctx: click.Context, groups: dict[str, tuple[frozenset[str], frozenset[str]]]) -> None:
    """Each group (runs) with its (system tags, every tag): a table, or with --quiet one parseable line each."""
    if _is_quiet(ctx):
        for group, (system, every) in groups.items():
            click.echo(f"{group} ; {','.join(sorted(system))} ; {','.join(sorted(every - system))}")
        return
    click.echo(_HEADER)
    for group, (system, every) in groups.items():
        if len(groups) > 1:
            click.echo(f"For run {group}")
        for tag in sorted(every):
            click.echo(tag if tag in system else f"*{tag}*")
        click.echo()


def _changed(ctx: click.Context, run: Run) -> None:
    if not _is_quiet(ctx):
        click.echo("Operation successful. New tags:")
    _print_tags(ctx, {run.pathspec: (run.system_tags, run.tags)})


def _change_options(command: Any) -> Any:
    help_text = "Look for the run in this namespace instead of yours (user:<you>)."
    command = click.option("--namespace", "user_namespace", default=None, help=help_text)(command)
    return click.option("--run-id", default=None, help="The run to change. [required]")(command)


@click.group("tag", help="Add, remove, replace or list the tags of a run.")
def tag_group() -> None:
    pass


@tag_group.command("add", help="Add tags to a run.")
@_change_options
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def tag_add(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags: tuple[str, ...]) -> None:
    run = _run_to_change(ctx, run_id, user_namespace)
    run.add_tags(tags)
    _changed(ctx, run)


@tag_group.command("remove", help="Remove tags from a run.")
@_change_options
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def tag_remove(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags: tuple[str, ...]) -> None:
    run = _run_to_change(ctx, run_id, user_namespace)
    run.remove_tags(tags)
    _changed(ctx, run)


@tag_group.command("replace", help="Replace tags of a run atomically: removals first, then additions.")
@_change_options
@click.option("--add", "tags_to_add", multiple=True, help="A tag to add (repeatable).")
@click.option("--remove", "tags_to_remove", multiple=True, help="A tag to remove (repeatable).")
@click.argument("old_and_new", nargs=-1)
@click.pass_context
def tag_replace(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags_to_add: tuple[str, ...],
                tags_to_remove: tuple[str, ...], old_and_new: tuple[str, ...]) -> None:  # fmt: skip
    if old_and_new:  # the short form: replace OLD NEW
        if len(old_and_new) != 2 or tags_to_add or tags_to_remove:
            raise FlowstoneException("Give either OLD NEW, or --remove OLD ... --add NEW ...")
        tags_to_remove, tags_to_add = (old_and_new[0],), (old_and_new[1],)
    if not tags_to_add or not tags_to_remove:
        raise FlowstoneException("Specify at least one tag to add (--add) and one tag to remove (--remove); "
                                 "to only add or only remove, use 'tag add' or 'tag remove'.")  # fmt: skip
    run = _run_to_change(ctx, run_id, user_namespace)
    run.replace_tags(tags_to_remove, tags_to_add)
    _changed(ctx, run)


@tag_group.command("list", help="List the tags of a run, or of every run of the flow.")
@click.option("--run-id", default=None, help="The run whose tags to list (default: every run).")
@click.option("--all", "list_all", is_flag=True, help="Every run of the flow, of every user.")
@click.option("--my-runs", is_flag=True, help="Every run of the flow in your namespace.")
@click.option("--hide-system-tags", is_flag=True, help="Only user tags.")
@click.option("--group-by-run", is_flag=True, help="A group of tags for each run.")
@click.option("--flat", is_flag=True, help="One tag per line, on stderr, no groups.")
@click.argument("arg_run_id", required=False)
@click.pass_context
def tag_list(ctx: click.Context, run_id: str | None, list_all: bool, my_runs: bool, hide_system_tags: bool,
             group_by_run: bool, flat: bool, arg_run_id: str | None) -> None:  # fmt: skip
    if run_id and arg_run_id:
        raise FlowstoneException("Name the run with --run-id or as an argument, not both.")
    if list_all and my_runs:
        raise FlowstoneException("--all and --my-runs cannot be used together.")
    if flat and group_by_run:
        raise FlowstoneException("--flat and --group-by-run cannot be used together.")
    runs = _runs_to_list(ctx, run_id or arg_run_id, my_runs)
    groups = {run.pathspec: (run.system_tags, run.tags) for run in runs}
    if hide_system_tags:
        groups = {name: (frozenset(), every - system) for name, (system, every) in groups.items()}
    if not group_by_run:
        groups = {",".join(groups): (_union(s for s, _ in groups.values()), _union(e for _, e in groups.values()))}
    if flat:
        for tag in sorted(next(iter(groups.values()))[1]):
            click.echo(tag, err=True)
        return
    _print_tags(ctx, groups)


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*sets)


def _runs_to_list(ctx: click.Context, run_id: str | None, my_runs: bool) -> list[Run]:
    from flowstone.cli.inspect_cmds import show_banner, use_datastore
    from flowstone.client import context
    from flowstone.client.runs import Flow, Run
    from flowstone.flow.current import get_username

    use_datastore(ctx)
    show_banner(ctx)
    if run_id is not None:
        flow_name, number = _split_run_id(ctx, run_id)
        return [Run(f"{flow_name}/{number}")]
    context.namespace(f"user:{get_username()}" if my_runs else None)
    flow_name = _flow_name(ctx)
    try:
        return list(Flow(flow_name))
    except FlowstoneNotFound:
        raise FlowstoneException(f"Cannot list tags: the flow {flow_name} has never been run.") from None
