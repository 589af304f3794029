"""Run a flow whose second task gets Ctrl-C the moment the executor has started it, while the runner has yet to
record it: ``python interrupt_at_submit.py DATASTORE_ROOT``. The test reads what the run stored."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Hashable
from typing import Any

from flowstone import FlowSpec, step
from flowstone.datastore import FlowDataStore
from flowstone.executors.fork import ForkExecutor
from flowstone.runtime.run_loop import RunLoop
from flowstone.settings import Settings


class PausingFlow(FlowSpec):
    """Its middle step waits until it is killed."""

    @step
    def start(self):
        self.next(self.wait)

    @step
    def wait(self):
        print("waiting", flush=True)
        signal.pause()
        self.next(self.end)

    @step
    def end(self):
        pass


class InterruptedAtSecondSubmit(ForkExecutor):
    """Raises SIGINT in this process right after its second task has started."""

    submitted = 0

    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        pid = super().submit(key, fn, time_limit)
        self.submitted += 1
        if self.submitted == 2:
            signal.raise_signal(signal.SIGINT)  # its handler runs now, inside the runner's bookkeeping
        return pid


def main(root: str) -> int:
    executor = InterruptedAtSecondSubmit()  # first: its fork server is forked before anything starts threads
    settings = Settings.from_env(default_datastore="local", datastore_sysroot_local=root)
    try:
        outcome = RunLoop(PausingFlow, FlowDataStore("PausingFlow", settings=settings), executor).run({})
    finally:
        executor.shutdown()
    print(f"run {outcome.run_id} ok={outcome.ok}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
