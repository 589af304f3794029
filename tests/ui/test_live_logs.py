"""A running task's page shows its log lines as they come: a flow whose step prints, waits for a file the test
makes, and prints again (tests/flows/live_log_flow.py), watched in headless Chromium through ``flowstone ui``."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.live_run import gated_run, wait_until
from tests.ui.browser import chromium, wait_for
from tests.ui.helpers import UiServer


def test_a_running_task_s_page_shows_its_lines_as_they_come(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with gated_run(root, tmp_path) as run, UiServer(root) as server, chromium() as driver:
        task = f"LiveLogFlow/{run.run_id}/start/1"
        wait_until(lambda: server.get(f"/api/tasks/{task}")[0] == 200, 60, "the task started")
        driver.get(f"{server.url}/runs/{task}")
        wait_for(driver, "section.log-stdout .line", "first line, before the gate")  # the step still waits
        assert "running" in wait_for(driver, "h1 .status").text
        assert "a note on stderr" in wait_for(driver, "section.log-stderr .line").text
        assert "second line" not in wait_for(driver, "section.log-stdout pre").text
        assert not run.gate.exists()
        assert run.finish() == 0
        wait_for(driver, "section.log-stdout .line", "second line, after the gate")
        wait_for(driver, "h1 .status", "succeeded")
        lines = [e.text for e in driver.find_elements("css selector", "section.log-stdout .line")]
        assert [line.split(" ", 1)[1] for line in lines] == ["first line, before the gate",
                                                             "second line, after the gate"]  # fmt: skip
