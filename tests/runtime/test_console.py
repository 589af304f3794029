from __future__ import annotations

import io
import re

from flowstone.runtime.console import Console

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[1/start/1 \(pid 7\)\] hello$")


def test_task_lines_are_prefixed_and_timestamped() -> None:
    out = io.StringIO()
    console = Console(stream=out, live=False)
    console.task_line("1/start/1 (pid 7)", "hello")
    assert LINE.match(out.getvalue().strip())


def test_quiet_hides_only_flowstones_own_lines() -> None:
    out = io.StringIO()
    console = Console(quiet=True, stream=out, live=False)
    console.info("Workflow starting")
    console.task_line("1/start/1 (pid 7)", "Task is starting.", system=True)
    console.task_line("1/start/1 (pid 7)", "hello")
    console.error("Workflow failed")
    assert "Workflow starting" not in out.getvalue() and "Task is starting" not in out.getvalue()
    assert "hello" in out.getvalue() and "Workflow failed" in out.getvalue()


def test_live_progress_line() -> None:
    out = io.StringIO()
    console = Console(stream=out, live=True)
    console.start_progress()
    console.task_line("1/start/1 (pid 7)", "hello")
    console.progress(done=3, running=2, failed=1, queued=4)
    console.stop_progress()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # drop the terminal control codes
    assert "[1/start/1 (pid 7)] hello" in text
    assert "tasks: 3 done, 2 running, 4 queued, 1 failed" in text
