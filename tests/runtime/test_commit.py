"""Committing tasks: DONE is written last and only for an attempt that succeeded; a reused task is committed the
same way; the cache index points only at committed tasks; and a cache lookup tells a missing task (a miss) from
a storage that fails (an error)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.errors import StorageError
from flowstone.executors.base import Exited
from flowstone.flow.decorators import step
from flowstone.flow.flowspec import FlowSpec
from flowstone.runtime.cache import CacheKey, TaskCache
from flowstone.runtime.commit import AttemptLogs, commit_attempt, commit_clone, why_it_died
from flowstone.runtime.resume import OriginTask
from flowstone.runtime.task_spec import RunInfo, TaskResult, TaskSpec
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage

KEY = CacheKey("k" * 64, {})


class TinyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.fixture
def fds() -> FlowDataStore:
    return FlowDataStore("TinyFlow", storage=MemoryStorage(), settings=Settings(default_datastore="memory"))


def _spec(task_id: str = "1", attempt: int = 0) -> TaskSpec:
    run = RunInfo("TinyFlow", "100", Settings(default_datastore="memory"))
    return TaskSpec(run, "start", task_id, attempt, (), (), (), (), ())


def _ran(fds: FlowDataStore, spec: TaskSpec, **artifacts: Any) -> AttemptLogs:
    """What a task process leaves behind: its started attempt, artifacts and metadata; and the runner's logs."""
    task = fds.get_datastore_for_task("100", "start", spec.task_id, spec.attempt, "w")
    task.init_task()
    task.save_artifacts(artifacts.items())
    task.save_metadata({"attempt": spec.attempt, "next_steps": ["end"]})
    logs = AttemptLogs()
    logs.add("stdout", b"hello")
    return logs


def _cache(fds: FlowDataStore) -> TaskCache:
    graph = TinyFlow._get_graph()
    return TaskCache(TinyFlow, fds, {node.name: () for node in graph})


def test_a_successful_attempt_is_done_logged_and_cached(fds: FlowDataStore) -> None:
    spec, cache = _spec(), _cache(fds)
    commit_attempt(fds, spec, _ran(fds, spec, x=1), TaskResult(True, ("end",)), cache=(cache, KEY))
    task = fds.get_datastore_for_task("100", "start", "1")
    assert task.attempt == 0 and task["x"] == 1
    assert task.load_log("stdout") == "hello\n"
    assert cache.lookup(KEY).source == "TinyFlow/100/start/1"


def test_a_failed_attempt_is_logged_and_never_done(fds: FlowDataStore) -> None:
    spec, cache = _spec(), _cache(fds)
    commit_attempt(fds, spec, _ran(fds, spec), TaskResult(False), cache=(cache, KEY))
    task = fds.get_datastore_for_task("100", "start", "1", attempt=0, allow_not_done=True)
    assert task.load_log("stdout") == "hello\n"
    assert fds.get_task_datastores(run_id="100") == []
    assert cache.lookup(KEY).source is None


def test_a_dead_process_is_recorded_with_the_reason(fds: FlowDataStore) -> None:
    spec = _spec()
    commit_attempt(fds, spec, _ran(fds, spec), None, died="The task process was killed by SIGKILL.")
    task = fds.get_datastore_for_task("100", "start", "1", attempt=0, allow_not_done=True)
    exception = task.load_metadata(["exception"])["exception"]
    assert exception["type"] == "ProcessDied" and "SIGKILL" in exception["message"]
    assert fds.get_task_datastores(run_id="100") == []


def test_a_caught_failure_is_done_but_never_cached(fds: FlowDataStore) -> None:
    spec, cache = _spec(), _cache(fds)
    commit_attempt(fds, spec, _ran(fds, spec), TaskResult(True, ("end",), caught=True), cache=(cache, KEY))
    assert fds.get_datastore_for_task("100", "start", "1").attempt == 0
    assert cache.lookup(KEY).source is None


def test_a_clone_is_committed_with_its_origins_records(fds: FlowDataStore) -> None:
    spec = _spec()
    commit_attempt(fds, spec, _ran(fds, spec, x=[1, 2]), TaskResult(True, ("end",)))
    source = fds.get_datastore_for_task("100", "start", "1")
    commit_clone(fds, OriginTask(source, source.load_metadata()), "200", "7", [], {"decision": "hit"})
    clone = fds.get_datastore_for_task("200", "start", "7")
    assert clone["x"] == [1, 2] and clone.records["x"] == source.records["x"]  # by reference
    assert clone.load_log("stdout") == "hello\n"
    meta = clone.load_metadata()
    assert meta["origin_pathspec"] == "TinyFlow/100/start/1" and meta["cache"] == {"decision": "hit"}


class _FailingExists(MemoryStorage):
    """A storage whose existence checks fail once ``broken``, as an unreachable server's would."""

    broken = False

    def exists(self, key: str) -> bool:
        if self.broken:
            raise StorageError("the server cannot be reached")
        return super().exists(key)


def test_a_storage_error_during_a_lookup_is_reported_not_taken_for_a_miss() -> None:
    storage = _FailingExists()
    fds = FlowDataStore("TinyFlow", storage=storage, settings=Settings(default_datastore="memory"))
    spec, cache = _spec(), _cache(fds)
    commit_attempt(fds, spec, _ran(fds, spec, big=b"x" * 4096), TaskResult(True, ("end",)), cache=(cache, KEY))
    storage.broken = True
    with pytest.raises(StorageError, match="cannot be reached"):
        cache.lookup(KEY)


def test_a_task_that_is_not_done_is_a_miss(fds: FlowDataStore) -> None:
    spec, cache = _spec(), _cache(fds)
    _ran(fds, spec)
    cache.record(KEY, "100", "start", "1", 0)  # an entry pointing at a task that never committed
    found = cache.lookup(KEY)
    assert found.source is None and "gone or not done" in found.reason


def test_why_a_process_died_is_kept_in_its_stderr_log(fds: FlowDataStore) -> None:
    spec = _spec()
    segfault = why_it_died(Exited("k", 1, -signal.SIGSEGV, None), stopped_by_run=False)
    commit_attempt(fds, spec, _ran(fds, spec), None, died=segfault)
    task = fds.get_datastore_for_task("100", "start", "1", attempt=0, allow_not_done=True)
    assert task.load_log("stderr").splitlines()[-1] == (
        "The task process was killed by SIGSEGV: the task failed with a segmentation fault."
    )
    assert why_it_died(Exited("k", 1, 3, None), stopped_by_run=False) == "The task process exited with code 3."
    assert why_it_died(Exited("k", 1, -9, None), stopped_by_run=True) == "The task was stopped because the run failed."
