from __future__ import annotations

import ctypes
import functools
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone.executors.fork import ForkExecutor
from tests.executors.conformance import ExecutorTests, collect, exit_of, lines_of

# The tests here fork in the test process, which runs the test runner's own I/O thread (pytest-xdist's): the
# executor rightly warns about it. Forks from a clean process are checked in subprocesses below.
pytestmark = pytest.mark.filterwarnings("ignore:The fork executor started in a process:RuntimeWarning")


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


# Task functions travel to the fork server pickled: they are module-level functions (or partials of them).
def _exit_with(code: int) -> None:
    os._exit(code)


def _segfault() -> None:
    ctypes.string_at(0)


def _answer() -> int:
    return 42


def _hang_with_child(marker: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(marker).write_text(str(child.pid))
    time.sleep(600)


def _spawn_and_leave() -> str:
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    print("left a child behind")
    return "done"


def _sleep_long() -> None:
    time.sleep(600)


def _nothing() -> None:
    return None


def _count_threads() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/task"))


def test_os_exit_is_reported(fork: ForkExecutor) -> None:
    fork.submit("x", functools.partial(_exit_with, 7))
    exited = exit_of(collect(fork, 1), "x")
    assert exited.returncode == 7 and exited.result is None
    assert exited.description == "exited with code 7"


def test_segfault_does_not_hurt_the_parent(fork: ForkExecutor) -> None:
    fork.submit("segv", _segfault)
    fork.submit("fine", _answer)
    events = collect(fork, 2)
    assert exit_of(events, "segv").description == "was killed by SIGSEGV"
    assert exit_of(events, "fine").result == 42
    assert any("Fatal Python error" in line for line in lines_of(events, "segv", "stderr"))


def _gone(pid: int, seconds: float) -> bool:
    """Wait (on the process's pidfd, not by polling) for ``pid`` to end or become a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split()[2] == "Z":
                return True
        fd = os.pidfd_open(pid)
    except (FileNotFoundError, ProcessLookupError):
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)


def test_time_limit_kills_the_task_and_what_it_spawned(fork: ForkExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    started = time.monotonic()
    fork.submit("hang", functools.partial(_hang_with_child, str(marker)), time_limit=1.0)
    exited = exit_of(collect(fork, 1), "hang")
    assert exited.timed_out and exited.returncode < 0
    assert time.monotonic() - started < 30
    assert _gone(int(marker.read_text()), 10), "the task's child process survived the time limit"


def test_output_of_a_grandchild_holding_the_pipe_does_not_block_the_exit(fork: ForkExecutor) -> None:
    fork.submit("p", _spawn_and_leave)
    events = collect(fork, 1)
    assert exit_of(events, "p").result == "done"
    assert lines_of(events, "p") == ["left a child behind"]


def test_kill(fork: ForkExecutor) -> None:
    fork.submit("k", _sleep_long)
    fork.kill("k")
    assert exit_of(collect(fork, 1), "k").returncode < 0


def test_parent_buffered_output_is_not_repeated_by_children(capfd: pytest.CaptureFixture[str]) -> None:
    sys.stdout.write("parent text without newline")
    executor = ForkExecutor()
    try:
        executor.submit("c", _nothing)
        collect(executor, 1)
    finally:
        executor.shutdown()
    sys.stdout.flush()
    assert capfd.readouterr().out.count("parent text without newline") == 1


def test_tasks_start_clean_even_when_the_runner_has_threads(fork: ForkExecutor) -> None:
    """Threads started in the runner after the executor (an I/O library's, say) do not reach the tasks."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        fork.submit("t", _count_threads)
        assert exit_of(collect(fork, 1), "t").result == 1
    finally:
        stop.set()
        worker.join()


def test_unpicklable_task_is_refused(fork: ForkExecutor) -> None:
    with pytest.raises(Exception, match="pickle"):
        fork.submit("l", lambda: 1)


def _environment_and_directory() -> tuple[str | None, str]:
    return os.environ.get("FS_TEST_SET_AFTER_START"), os.getcwd()


def test_tasks_see_the_runners_current_environment_and_directory(
    fork: ForkExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server was forked earlier; a task still sees the variables and directory the runner has now."""
    monkeypatch.setenv("FS_TEST_SET_AFTER_START", "yes")
    monkeypatch.chdir(tmp_path)
    fork.submit("e", _environment_and_directory)
    assert exit_of(collect(fork, 1), "e").result == ("yes", str(tmp_path))


def test_starting_after_threads_is_warned_about() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="a-busy-worker")
    worker.start()
    try:
        with pytest.warns(RuntimeWarning, match=r"other thread\(s\) \(.*a-busy-worker.*\)"):
            ForkExecutor().shutdown()
    finally:
        stop.set()
        worker.join()


_CLEAN_START = """
import warnings
warnings.simplefilter("error")  # any warning fails the script
{setup}
from flowstone.executors.fork import ForkExecutor
ForkExecutor().shutdown()
print("no warning")
"""


def _run_script(setup: str) -> subprocess.CompletedProcess[str]:
    code = _CLEAN_START.format(setup=setup)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_numpy_imported_and_used_before_the_executor_is_quiet() -> None:
    """numpy's BLAS thread pool stops itself at fork: the common ML flow file gets no warning."""
    done = _run_script("import numpy\nnumpy.ones((300, 300)) @ numpy.ones((300, 300))")
    assert done.returncode == 0 and done.stdout.strip() == "no warning", done.stderr


def test_a_thread_started_before_the_executor_is_warned_about_in_a_clean_process() -> None:
    done = _run_script("import threading\nthreading.Thread(target=threading.Event().wait, daemon=True).start()")
    assert done.returncode != 0 and "RuntimeWarning: The fork executor started" in done.stderr
