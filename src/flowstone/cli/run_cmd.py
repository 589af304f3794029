"""``run`` and ``resume``: execute a flow with the local fork executor (or on Ray) and print its progress."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from flowstone import __version__
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException
from flowstone.executors.base import Executor
from flowstone.executors.fork import ForkExecutor
from flowstone.executors.remote import RemoteExecutor
from flowstone.flow.current import get_username
from flowstone.runtime.console import Console
from flowstone.runtime.remote_task import check_datastore_is_shared, check_resources
from flowstone.runtime.run_loop import RunLoop
from flowstone.runtime.run_record import RunOptions, RunOutcome
from flowstone.runtime.watch import prepare_watching
from flowstone.settings import Settings
from flowstone.storage import storage_class

if TYPE_CHECKING:
    from flowstone.cli.flow_cli import CliState

__all__ = ["execute_resume", "execute_run", "latest_run_id", "print_plan", "started_executor"]


@contextmanager
def started_executor(settings: Settings | None = None) -> Iterator[Executor]:
    """The executor for a run. Start it before anything that may start threads (reading an ``s3://``
    IncludeFile, say): the local executor's fork server must be forked from a single-threaded process. A Ray
    run forks nothing here: connecting to Ray (which starts threads) is all it does."""
    executor: Executor
    if settings is not None and settings.executor == "ray":
        from flowstone.executors.ray import RayExecutor

        executor = RayExecutor(settings.ray_address)
    else:
        if settings is not None:  # imported once here, not by every task (the Azure SDK takes 0.7 s to import)
            storage_class(settings.default_datastore)
        prepare_watching()  # likewise what watching a task for unseeded random draws needs
        with warnings.catch_warnings(record=True) as caught:  # the command line hides warnings: say it here
            warnings.simplefilter("always")
            executor = ForkExecutor()
        for warning in caught:
            click.echo(f"Warning: {warning.message}", err=True)
    try:
        yield executor
    finally:
        executor.shutdown()


def execute_run(state: CliState, executor: Executor, params: dict[str, Any], **options: Any) -> bool:
    """Run the flow; return True if it succeeded."""
    return _execute(state, executor, lambda loop: loop.run(params), options)


def execute_resume(
    state: CliState, executor: Executor, origin_run_id: str | None, step: str | None, **options: Any
) -> bool:
    """Resume a run (by default the user's latest run of this flow); return True if it succeeded."""

    def resume(loop: RunLoop) -> RunOutcome:
        origin = origin_run_id or latest_run_id(loop.fds, get_username())
        if origin is None:
            raise FlowstoneException(f"There is no run of {state.flow_name} to resume; start one with 'run'.")
        loop.console.info(f"Resuming run {state.flow_name}/{origin}" + (f" from step '{step}'." if step else "."))
        return loop.resume(origin, step)

    return _execute(state, executor, resume, options)


def print_plan(state: CliState, params: dict[str, Any]) -> None:
    """What a run with these parameters would reuse from the cache (nothing is run)."""
    import click

    import flowstone.client.reads  # noqa: F401 - the cache checks again what earlier tasks read through the client
    from flowstone.runtime.explain import plan_run

    fds = FlowDataStore(state.flow_name, settings=state.settings)
    planned = plan_run(state.flow_cls, fds, params, state.decospecs)
    labels = {"hit": "reuse", "miss": "run", "off": "run (not cached)", "run": "run"}
    for task in planned:
        click.echo(f"  {task.step_name:<24} {labels[task.outcome]:<18} {task.detail}")
    hits = sum(t.outcome == "hit" for t in planned)
    click.echo(f"{hits} of the {len(planned)} tasks found would reuse earlier results.")


def latest_run_id(fds: FlowDataStore, user: str) -> str | None:
    """The newest run of the flow started by ``user``."""
    run_ids = sorted((r for r in fds.list_run_ids() if r.isdigit()), key=int, reverse=True)
    for run_id in run_ids:
        record = fds.load_run_record(run_id)
        if record and f"user:{user}" in record.get("system_tags", []):
            return run_id
    return None


def _execute(state: CliState, executor: Executor, start: Any, options: dict[str, Any]) -> bool:
    console = Console(quiet=state.quiet)
    console.info(f"flowstone {__version__} executing {state.flow_name} for user:{get_username()}")
    import flowstone.client.reads  # noqa: F401 - the cache checks again what earlier tasks read through the client

    fds = FlowDataStore(state.flow_name, settings=state.settings)
    run_options = RunOptions(decospecs=state.decospecs, project=state.project, environment=state.environment,
                             **options)  # fmt: skip
    loop = RunLoop(state.flow_cls, fds, executor, run_options, console)
    if isinstance(executor, RemoteExecutor):  # refuse what cannot work before the run starts
        check_datastore_is_shared(executor, fds)
        check_resources(executor, loop.decorators)
        nodes = executor.node_count
        console.info(f"Tasks run on {executor.runtime_name} ({nodes} node{'' if nodes == 1 else 's'}).")
    outcome: RunOutcome = start(loop)
    if outcome.ok:
        console.info(f"Done! {_counts(outcome)}. See the run with: Run('{state.flow_name}/{outcome.run_id}')")
    else:
        failed = ", ".join(outcome.failed_tasks) or "the run was interrupted"
        console.error(f"Run {state.flow_name}/{outcome.run_id} failed ({failed}). {_counts(outcome)}")
    return outcome.ok


def _counts(outcome: RunOutcome) -> str:
    """How many tasks ran (a failed one included) and were reused, and where to see why: a run's last line."""
    failed = len(outcome.failed_tasks)
    tasks, ran = outcome.tasks_run + failed, outcome.tasks_run + failed - outcome.tasks_reused
    return (f"{tasks} task{'' if tasks == 1 else 's'} in {outcome.seconds:.2f}s: {ran} ran"
            f"{f' ({failed} failed)' if failed else ''}, {outcome.tasks_reused} reused "
            f"(see: python {_flow_file()} why {outcome.run_id})")  # fmt: skip


def _flow_file() -> str:
    import os
    import sys

    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "flow.py"
