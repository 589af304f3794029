"""``run``: execute a flow with the local fork executor and print its progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowstone import __version__
from flowstone.datastore import FlowDataStore
from flowstone.executors.fork import ForkExecutor
from flowstone.runtime.console import Console
from flowstone.runtime.run_loop import RunLoop, RunOptions

if TYPE_CHECKING:
    from flowstone.cli.flow_cli import CliState

__all__ = ["execute_run"]


def execute_run(state: CliState, params: dict[str, Any], **options: Any) -> bool:
    """Run the flow; return True if it succeeded."""
    console = Console(quiet=state.quiet)
    console.info(f"flowstone {__version__} executing {state.flow_name} for user:{_user()}")
    fds = FlowDataStore(state.flow_name, settings=state.settings)
    run_options = RunOptions(decospecs=state.decospecs, **options)
    executor = ForkExecutor()
    try:
        outcome = RunLoop(state.flow_cls, fds, executor, run_options, console).run(params)
    finally:
        executor.shutdown()
    if outcome.ok:
        console.info(
            f"Done! {outcome.tasks_run} tasks in {outcome.seconds:.2f}s. "
            f"See the run with: Run('{state.flow_name}/{outcome.run_id}')"
        )
    else:
        failed = ", ".join(outcome.failed_tasks) or "the run was interrupted"
        console.error(f"Run {state.flow_name}/{outcome.run_id} failed ({failed}).")
    return outcome.ok


def _user() -> str:
    from flowstone.flow.current import get_username

    return get_username()
