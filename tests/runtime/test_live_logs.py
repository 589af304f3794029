"""The output of a running attempt is stored as it comes (at most once a second, only when there is something
new, and less often when storing takes long), and the log stored when the attempt ends replaces it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstone.client import Task, context
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneNotFound, StorageError
from flowstone.runtime import commit
from flowstone.runtime.commit import AttemptLogs, commit_attempt, save_live_logs
from flowstone.runtime.task_spec import RunInfo, TaskResult, TaskSpec
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage
from tests.runtime.helpers import FLOWS
from tests.runtime.live_run import gated_run, wait_until


class Clock:
    """``time`` as commit.py reads it, moved on by the test (and by storage that takes its time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


class CountingStorage(MemoryStorage):
    """Memory storage that counts the logs it writes (one per stream), can take time over each, and can fail."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.log_writes, self.seconds_per_write, self.failing = clock, 0, 0.0, False

    def save_bytes(self, items, overwrite=True, durable=True):  # type: ignore[no-untyped-def]
        items = list(items)
        if any(key.endswith(".log") for key, _ in items):
            if self.failing:
                raise StorageError("the storage is away")
            self.log_writes += 1
            self.clock.now += self.seconds_per_write
        return super().save_bytes(items, overwrite, durable)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(commit, "time", found)
    return found


@pytest.fixture
def storage(clock: Clock) -> CountingStorage:
    return CountingStorage(clock)


@pytest.fixture
def fds(storage: CountingStorage) -> FlowDataStore:
    return FlowDataStore("TinyFlow", storage=storage, settings=Settings(default_datastore="memory"))


def _spec() -> TaskSpec:
    return TaskSpec(RunInfo("TinyFlow", "100", Settings(default_datastore="memory")), "start", "1", 0, (), (), (),
                    (), ())  # fmt: skip


def _stored(fds: FlowDataStore, stream: str = "stdout") -> str:
    return fds.get_datastore_for_task("100", "start", "1", 0, allow_not_done=True).load_log(stream)


def test_output_is_stored_a_second_after_the_attempt_started_then_at_most_once_a_second(
    fds: FlowDataStore, storage: CountingStorage, clock: Clock
) -> None:
    spec, logs = _spec(), AttemptLogs()
    fds.get_datastore_for_task("100", "start", "1", 0, "w").init_task()
    assert save_live_logs(fds, [(spec, logs)], None) is None  # nothing printed: nothing to do, no wake-up
    logs.add("stdout", b"one")
    clock.now += 0.4
    assert save_live_logs(fds, [(spec, logs)], None) == pytest.approx(0.6)  # due a second after the start
    assert save_live_logs(fds, [(spec, logs)], 0.2) == pytest.approx(0.2)  # a nearer wake-up stands
    assert storage.log_writes == 0 and _stored(fds) == ""
    clock.now += 0.6
    assert save_live_logs(fds, [(spec, logs)], None) is None
    assert _stored(fds) == "one\n" and storage.log_writes == 1
    clock.now += 5
    assert save_live_logs(fds, [(spec, logs)], None) is None and storage.log_writes == 1  # nothing new
    logs.add("stdout", b"two")
    logs.add("stderr", b"oops")
    assert save_live_logs(fds, [(spec, logs)], None) is None  # a long quiet time: stored at once
    assert (_stored(fds), _stored(fds, "stderr"), storage.log_writes) == ("one\ntwo\n", "oops\n", 3)
    logs.add("stdout", b"three")
    clock.now += 0.3
    assert save_live_logs(fds, [(spec, logs)], None) == pytest.approx(0.7) and storage.log_writes == 3


def test_an_attempt_that_ends_within_a_second_stores_its_log_once(fds: FlowDataStore, storage: CountingStorage,
                                                                   clock: Clock) -> None:  # fmt: skip
    spec, logs = _spec(), AttemptLogs()
    fds.get_datastore_for_task("100", "start", "1", 0, "w").init_task()
    for n in range(100):
        logs.add("stdout", b"line %d" % n)
        clock.now += 0.005
        save_live_logs(fds, [(spec, logs)], None)
    assert storage.log_writes == 0
    commit_attempt(fds, spec, logs, TaskResult(False))
    assert storage.log_writes == 1 and len(_stored(fds).splitlines()) == 100


def test_the_log_stored_at_the_end_replaces_the_live_one(fds: FlowDataStore, clock: Clock) -> None:
    spec, logs = _spec(), AttemptLogs()
    fds.get_datastore_for_task("100", "start", "1", 0, "w").init_task()
    logs.add("stdout", b"working")
    clock.now += 1
    save_live_logs(fds, [(spec, logs)], None)
    commit_attempt(fds, spec, logs, None, died="The task process was killed by SIGKILL.")
    stored = fds.get_datastore_for_task("100", "start", "1", 0, allow_not_done=True)
    assert stored.load_log("stderr").endswith("killed by SIGKILL.\n") and stored.load_log("stdout") == "working\n"


def test_slow_stores_make_the_next_one_wait_longer(fds: FlowDataStore, storage: CountingStorage,
                                                   clock: Clock) -> None:  # fmt: skip
    spec, logs, others = _spec(), AttemptLogs(), [(_spec(), AttemptLogs()) for _ in range(3)]
    fds.get_datastore_for_task("100", "start", "1", 0, "w").init_task()
    logs.add("stdout", b"big")
    clock.now += 1
    storage.seconds_per_write = 0.05  # with 4 attempts running: wait 20 x 4 x 0.05 = 4 s before the next
    save_live_logs(fds, [(spec, logs), *others], None)
    logs.add("stdout", b"more")
    assert save_live_logs(fds, [(spec, logs), *others], None) == pytest.approx(4.0)


def test_a_store_that_fails_is_tried_again_later_and_never_stops_the_run(fds: FlowDataStore,
                                                                         storage: CountingStorage,
                                                                         clock: Clock) -> None:  # fmt: skip
    spec, logs = _spec(), AttemptLogs()
    fds.get_datastore_for_task("100", "start", "1", 0, "w").init_task()
    logs.add("stdout", b"hello")
    clock.now += 1
    storage.failing = True
    assert save_live_logs(fds, [(spec, logs)], None) == pytest.approx(1.0)
    storage.failing = False
    clock.now += 1
    assert save_live_logs(fds, [(spec, logs)], None) is None and _stored(fds) == "hello\n"


def test_a_running_task_s_output_is_read_by_the_client_and_the_logs_command(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with gated_run(root, tmp_path) as run:
        context.datastore("local", str(root))
        pathspec = f"LiveLogFlow/{run.run_id}/start/1"
        task = wait_until(lambda: "first line" in Task(pathspec, _namespace_check=False).stdout
                          and Task(pathspec, _namespace_check=False), 60, "the running task's first line",
                          ignoring=(FlowstoneNotFound,))  # fmt: skip
        assert not task.finished and task.stdout == "first line, before the gate\n"
        assert task.stderr == "a note on stderr\n"
        assert [line for _, line in task.loglines("stdout")] == ["first line, before the gate"]
        cmd = [sys.executable, str(FLOWS / "live_log_flow.py"), "--datastore-root", str(root), "logs",
               f"{run.run_id}/start/1", "--stdout"]  # fmt: skip
        shown = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=60)
        assert shown.stdout == "first line, before the gate\n", shown.stderr
        assert run.finish() == 0
    done = Task(pathspec, _namespace_check=False)
    assert done.finished and done.stdout == "first line, before the gate\nsecond line, after the gate\n"
