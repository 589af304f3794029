"""A flow run left running in the background (tests/flows/live_log_flow.py, whose step waits for a gate file),
to look at a task while it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from tests.runtime.helpers import FLOWS

T = TypeVar("T")


def wait_until(found: Callable[[], T | None], seconds: float, what: str,
               ignoring: tuple[type[Exception], ...] = ()) -> T:  # fmt: skip
    """The first value ``found()`` returns that is not None or False, asked again until ``seconds`` have passed
    (raising one of ``ignoring`` counts as not found yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = found()
        except ignoring:
            value = None
        if value not in (None, False):
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {seconds:g} s")
        time.sleep(0.05)  # polling storage, which has no way to notify


class GatedRun(NamedTuple):
    proc: subprocess.Popen[str]
    run_id: str
    gate: Path

    def finish(self, seconds: float = 120) -> int:
        """Let the step go on, and wait for the run to end: its exit code."""
        self.gate.touch()
        return self.proc.wait(timeout=seconds)


@contextmanager
def gated_run(root: Path, scratch: Path, *args: Any) -> Iterator[GatedRun]:
    """``live_log_flow.py run`` over the local datastore ``root``, running until its gate (in ``scratch``) opens."""
    gate, run_id_file, output = scratch / "gate", scratch / "run-id", scratch / "run-output.txt"
    cmd = [sys.executable, str(FLOWS / "live_log_flow.py"), "--datastore-root", str(root), "run", "--run-id-file",
           str(run_id_file), *args]  # fmt: skip
    with open(output, "w") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, "LOG_GATE": str(gate)}, stdout=out, stderr=subprocess.STDOUT,
                                text=True)  # fmt: skip

    def run_id() -> str | None:
        if run_id_file.exists() and run_id_file.read_text().strip():
            return run_id_file.read_text().strip()
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it started: {output.read_text()}")
        return None

    try:
        yield GatedRun(proc, wait_until(run_id, 60, "the run's id"), gate)
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.wait(timeout=60)
