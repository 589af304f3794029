"""The Ray executor against a real local Ray cluster: the executor contract, crashes, kills, time limits,
placement and live output."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.ray_cluster import RayCluster, ray_cluster  # noqa: F401 - the fixture; sets Ray's environment

pytest.importorskip("ray")

from flowstone.executors.base import Event, Exited
from flowstone.executors.ray import RayExecutor, ray_options
from flowstone.executors.remote import RemoteTask, TaskResources
from tests.executors.conformance import ExecutorTests, collect, exit_of, lines_of


@pytest.fixture(scope="module")
def ray_executor(ray_cluster: RayCluster) -> Iterator[RayExecutor]:  # noqa: F811
    executor = RayExecutor(ray_cluster.address)
    yield executor
    executor.shutdown()


class TestRayExecutor(ExecutorTests):
    isolates_crashes = True

    @pytest.fixture
    def executor(self, ray_executor: RayExecutor) -> RayExecutor:
        return ray_executor


# Task functions travel pickled: module-level functions of this module, importable on the cluster's workers.
def _exit_with(code: int) -> None:
    sys.stdout.write("about to exit\n")
    sys.stdout.flush()
    os._exit(code)


def _wait_for(path: str, seconds: float = 60) -> str:
    print("waiting", flush=True)
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released" if os.path.exists(path) else "gave up"


def _variable(name: str) -> str | None:
    return os.environ.get(name)


_gpus = functools.partial(_variable, "CUDA_VISIBLE_DEVICES")


def _until(executor: RayExecutor, condition: object, seconds: float = 60) -> list[Event]:
    """Events until ``condition(events)`` holds (or fail after ``seconds``)."""
    events: list[Event] = []
    deadline = time.monotonic() + seconds
    while not condition(events):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting; got {events}"
        events.extend(executor.wait(timeout=1))
    return events


def test_a_crash_is_reported_with_its_exit_status(ray_executor: RayExecutor) -> None:
    ray_executor.submit("x", functools.partial(_exit_with, 3))
    events = collect(ray_executor, 1)
    assert exit_of(events, "x").returncode == 3 and exit_of(events, "x").result is None
    assert lines_of(events, "x") == ["about to exit"]
    ray_executor.submit("after", _gpus)  # the worker survived its task's crash
    assert exit_of(collect(ray_executor, 1), "after").returncode == 0


def test_output_arrives_while_the_task_runs(ray_executor: RayExecutor, tmp_path: Path) -> None:
    release = tmp_path / "release"
    ray_executor.submit("live", functools.partial(_wait_for, str(release)))
    events = _until(ray_executor, lambda ev: lines_of(ev, "live") == ["waiting"])
    assert not any(isinstance(e, Exited) for e in events)  # the line came before the task ended
    release.touch()
    assert exit_of(collect(ray_executor, 1), "live").result == "released"


def test_kill_cancels_the_task_on_the_cluster(ray_executor: RayExecutor, tmp_path: Path) -> None:
    ray_executor.submit("k", functools.partial(_wait_for, str(tmp_path / "never"), 600))
    _until(ray_executor, lambda ev: lines_of(ev, "k") == ["waiting"])
    started = time.monotonic()
    ray_executor.kill("k")
    exited = exit_of(collect(ray_executor, 1), "k")
    assert exited.returncode < 0 and exited.description == "was killed by SIGKILL"
    assert time.monotonic() - started < 30 and ray_executor.running == 0


def test_time_limit_kills_the_task(ray_executor: RayExecutor, tmp_path: Path) -> None:
    ray_executor.submit("slow", functools.partial(_wait_for, str(tmp_path / "never"), 600), time_limit=1.0)
    exited = exit_of(collect(ray_executor, 1), "slow")
    assert exited.timed_out and exited.returncode < 0


def test_a_task_without_gpus_sees_none(ray_executor: RayExecutor) -> None:
    ray_executor.submit("g", RemoteTask(_gpus, resources=TaskResources(cpu=0.5)))
    assert exit_of(collect(ray_executor, 1), "g").result == ""


def test_an_impossible_request_fails_at_once(ray_executor: RayExecutor) -> None:
    assert ray_executor.unsatisfiable(TaskResources(cpu=1)) is None
    problem = ray_executor.unsatisfiable(TaskResources(cpu=1, gpu=2))
    assert problem is not None and "gpu=2" in problem and "largest has cpu=2" in problem
    ray_executor.submit("big", RemoteTask(_gpus, resources=TaskResources(cpu=64)))
    events = collect(ray_executor, 1)
    assert exit_of(events, "big").returncode == 1
    assert any("Cannot run on Ray" in line and "cpu=64" in line for line in lines_of(events, "big", "stderr"))


def test_environment_reaches_the_task(ray_executor: RayExecutor) -> None:
    task = RemoteTask(functools.partial(_variable, "FLOWSTONE_TEST_X"), environment={"FLOWSTONE_TEST_X": "x"})
    ray_executor.submit("env", task)
    assert exit_of(collect(ray_executor, 1), "env").result == "x"


def test_ray_options_map_resources() -> None:
    options = ray_options(TaskResources(cpu=2, memory_bytes=3 << 30, gpu=1))
    assert options == {"num_cpus": 2, "memory": 3 << 30, "num_gpus": 1, "max_retries": 0}
    assert ray_options(TaskResources()) == {"num_cpus": 1.0, "num_gpus": 0, "max_retries": 0}
