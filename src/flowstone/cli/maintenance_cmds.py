"""``flowstone fsck``, ``flowstone rm`` and ``flowstone gc``: check a datastore, remove runs, collect garbage."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from flowstone.datastore.maintenance import collect_garbage, fsck, remove_runs
from flowstone.datastore.maintenance.gc import DEFAULT_GRACE_SECONDS, GcReport, safe_grace_seconds
from flowstone.settings import Settings
from flowstone.storage import Storage, make_storage

__all__ = ["add_commands"]

PHASES = {"records": "reading records", "blobs": "checking blobs", "runs": "applying the retention rule"}


def _storage(ctx: click.Context) -> Storage:
    settings: Settings = ctx.obj.settings
    return make_storage(settings.default_datastore, settings)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A progress display on stderr when it is a terminal (nothing otherwise)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    tasks: dict[str, Any] = {}
    with Progress(console=Console(stderr=True), transient=True) as bar:

        def tell(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield tell


@click.command(
    "fsck", help="Check every blob, record and reference of the datastore (or of FLOW); exit 1 on a problem."
)
@click.argument("flow_name", required=False)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Blobs checked at once (default: one per core on local disk, 16 on S3 and Azure).")  # fmt: skip
@click.pass_context
def fsck_cmd(ctx: click.Context, flow_name: str | None, jobs: int | None) -> None:
    storage = _storage(ctx)
    with _progress() as tell:
        report = fsck(storage, flow_name, jobs=jobs, progress=tell)
    for label, found in (("problem", report.problems), ("note", report.notes)):
        for problem in found:
            click.echo(f"{label}: {problem.key}\n    {problem.what}\n    To do: {problem.todo}")
    rate = report.blob_bytes / report.seconds / (1 << 20) if report.seconds else 0.0
    summary = (f"Checked {report.records} records, {report.blobs} blobs ({_size(report.blob_bytes)}) and "
               f"{report.references} references in {report.seconds:.1f} s ({rate:.0f} MiB/s)")  # fmt: skip
    if report.ok:
        click.echo(f"{summary}: no problems.")
        return
    click.echo(f"{summary}: {len(report.problems)} problem(s).", err=True)
    raise click.exceptions.Exit(1)


@click.command("rm", help="Remove runs (FLOW/RUN_ID ...): their records and cache entries; their blobs stay until gc.")
@click.argument("pathspecs", nargs=-1, required=True)
@click.option("--force", is_flag=True, default=False,
              help="Remove a run even if it seems to be running (its runner died on another machine).")  # fmt: skip
@click.pass_context
def rm_cmd(ctx: click.Context, pathspecs: tuple[str, ...], force: bool) -> None:
    for removed in remove_runs(_storage(ctx), pathspecs, force=force):
        click.echo(f"Removed {removed.pathspec}: {removed.objects} objects ({_size(removed.size)}).")
    click.echo("Blobs only these runs referred to are deleted by `flowstone gc` once they are unreferenced.")


@click.command("gc", help="Remove runs a retention rule lets go, then delete blobs nothing refers to.")
@click.argument("flow_name", required=False)
@click.option("--keep-last", type=click.IntRange(min=0), default=None, help="Keep the N newest runs of each flow.")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=None,
    help="Remove only runs started more than DAYS days ago.",
)
@click.option("--keep-tag", "keep_tags", multiple=True, help="Keep runs with this tag (repeatable).")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Keep unreferenced blobs written or claimed within this many seconds (runs in progress).",
)
@click.option("--dry-run", is_flag=True, default=False, help="Say what would be removed; remove nothing.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Listings made at once.")
@click.pass_context  # fmt: skip
def gc_cmd(ctx: click.Context, flow_name: str | None, keep_last: int | None, older_than: float | None,
           keep_tags: tuple[str, ...], grace: float, dry_run: bool, jobs: int | None) -> None:  # fmt: skip
    safe = safe_grace_seconds(ctx.obj.settings)
    if grace < safe:
        click.echo(f"Warning: --grace {grace:g} is shorter than {safe:g} s: blobs that runs writing now have "
                   f"not recorded yet may be deleted. Use it only while no run writes to this datastore.",
                   err=True)  # fmt: skip
    with _progress() as tell:
        report = collect_garbage(_storage(ctx), flow_name, keep_last, older_than, keep_tags, grace, dry_run,
                                 jobs, tell)  # fmt: skip
    _print_gc(report)


def _print_gc(report: GcReport) -> None:
    would = "would remove" if report.dry_run else "removed"
    for pathspec in report.removed_runs:
        click.echo(f"{'Would remove' if report.dry_run else 'Removed'} run {pathspec}")
    for pathspec in report.finished_removals:
        click.echo(f"{'Would finish' if report.dry_run else 'Finished'} removing {pathspec}")
    for key in report.unreadable:
        click.echo(f"Warning: {key} cannot be read; the blobs named in it are kept (see `flowstone fsck`).", err=True)
    click.echo(f"gc {would} {len(report.removed_runs)} run(s) and {report.blobs} blob(s) "
               f"({_size(report.blob_bytes)}); kept {report.young} unreferenced blob(s) within the grace period"
               + (f" and {report.kept_changed} claimed meanwhile" if report.kept_changed else "")
               + f"; {report.cleaned} leftover(s) {'to clean' if report.dry_run else 'cleaned'} "
               f"({report.seconds:.1f} s).")  # fmt: skip


def add_commands(cli: click.Group) -> None:
    for command in (fsck_cmd, rm_cmd, gc_cmd):
        cli.add_command(command)
