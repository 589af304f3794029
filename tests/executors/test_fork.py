from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from flowstone.executors.fork import ForkExecutor
from tests.executors.conformance import ExecutorTests, collect, exit_of, lines_of


class TestForkExecutor(ExecutorTests):
    isolates_crashes = True

    @pytest.fixture
    def executor(self) -> Iterator[ForkExecutor]:
        executor = ForkExecutor()
        yield executor
        executor.shutdown()


@pytest.fixture
def fork() -> Iterator[ForkExecutor]:
    executor = ForkExecutor()
    yield executor
    executor.shutdown()


def test_os_exit_is_reported(fork: ForkExecutor) -> None:
    fork.submit("x", lambda: os._exit(7))
    exited = exit_of(collect(fork, 1), "x")
    assert exited.returncode == 7 and exited.result is None
    assert exited.description == "exited with code 7"


def test_segfault_does_not_hurt_the_parent(fork: ForkExecutor) -> None:
    fork.submit("segv", lambda: ctypes.string_at(0))
    fork.submit("fine", lambda: 42)
    events = collect(fork, 2)
    assert exit_of(events, "segv").description == "was killed by SIGSEGV"
    assert exit_of(events, "fine").result == 42


def test_time_limit_kills_the_task_and_what_it_spawned(fork: ForkExecutor, tmp_path) -> None:
    marker = tmp_path / "grandchild.pid"

    def hang() -> None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        marker.write_text(str(child.pid))
        time.sleep(600)

    started = time.monotonic()
    fork.submit("hang", hang, time_limit=1.0)
    exited = exit_of(collect(fork, 1), "hang")
    assert exited.timed_out and exited.returncode < 0
    assert time.monotonic() - started < 30
    grandchild = int(marker.read_text())
    # the whole process group was killed: the grandchild is gone (or a zombie awaiting its reaper)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{grandchild}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the task's child process survived the time limit")


def test_output_of_a_grandchild_holding_the_pipe_does_not_block_the_exit(fork: ForkExecutor) -> None:
    def spawn_and_leave() -> str:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        print("left a child behind")
        return "done"

    fork.submit("p", spawn_and_leave)
    events = collect(fork, 1)
    assert exit_of(events, "p").result == "done"
    assert lines_of(events, "p") == ["left a child behind"]


def test_kill(fork: ForkExecutor) -> None:
    fork.submit("k", lambda: time.sleep(600))
    fork.kill("k")
    assert exit_of(collect(fork, 1), "k").returncode < 0


def test_parent_buffered_output_is_not_repeated_by_children(fork: ForkExecutor, capfd) -> None:
    sys.stdout.write("parent text without newline")
    fork.submit("c", lambda: None)
    collect(fork, 1)
    sys.stdout.flush()
    assert capfd.readouterr().out.count("parent text without newline") == 1
