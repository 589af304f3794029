"""One answer to how a run stands, for the client, `flowstone runs` and gc: from its end record, else from its
end task, else from whether its runner lives."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.datastore.run_status import run_state
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage

GRAPH = {"steps": [{"name": "start", "type": "start", "next": ["end"]}, {"name": "end", "type": "end", "next": []}]}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(runner_pid: int | None = None, host: str | None = None) -> tuple[FlowDataStore, str]:
    fds = FlowDataStore("StatusFlow", storage=MemoryStorage(), settings=Settings())
    runner = {"pid": runner_pid or os.getpid(), "host": host or os.uname().nodename}
    run_id = fds.create_run({"created_at": time.time(), "graph": GRAPH, "runner": runner})
    return fds, run_id


def _task(fds: FlowDataStore, run_id: str, step: str, task_id: str, **metadata: Any) -> None:
    task = fds.get_datastore_for_task(run_id, step, task_id, mode="w")
    task.init_task()
    task.save_artifacts([("x", 1)])
    task.save_metadata({"attempt_ok": True, **metadata})
    task.done()


def test_the_end_record_says_how_a_run_ended() -> None:
    fds, run_id = _run()
    fds.save_run_end(run_id, {"status": "failed", "finished_at": 12.5})
    assert run_state(fds, run_id)[:2] == ("failed", 12.5)


def test_a_run_whose_end_record_is_missing_or_damaged_succeeded_if_its_end_step_did() -> None:
    fds, run_id = _run(runner_pid=_dead_pid())
    _task(fds, run_id, "start", "1")
    assert run_state(fds, run_id).status == "interrupted"
    _task(fds, run_id, "end", "2")
    state = run_state(fds, run_id)
    assert state.status == "succeeded" and state.ended_at is not None
    fds.storage.save_one(f"StatusFlow/{run_id}/_end.json", b'{"blake3":"00')  # damaged: says nothing
    assert run_state(fds, run_id).status == "succeeded"


def test_an_end_step_failure_caught_is_no_success() -> None:
    fds, run_id = _run(runner_pid=_dead_pid())
    _task(fds, run_id, "end", "2", caught=True)
    assert run_state(fds, run_id).status == "interrupted"


def test_an_interrupted_run_ended_when_it_last_wrote() -> None:
    fds, run_id = _run(runner_pid=_dead_pid())
    _task(fds, run_id, "start", "1")
    written = max(info.modified for info in fds.storage.list_tree(f"StatusFlow/{run_id}"))
    time.sleep(0.01)  # time passes: the duration does not grow
    state = run_state(fds, run_id)
    assert state == ("interrupted", written, None)


@pytest.mark.parametrize("where", ["alive here", "elsewhere"])
def test_a_run_is_running_while_its_runner_lives_or_cannot_be_checked(where: str) -> None:
    fds, run_id = _run(host="another-machine" if where == "elsewhere" else None, runner_pid=_dead_pid()
                       if where == "elsewhere" else None)  # fmt: skip
    assert run_state(fds, run_id) == ("running", None, None)
