"""A task learns its run's settings from its spec, not from the environment it inherited."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.helpers import run_flow


def test_a_step_reads_its_runs_datastore_whatever_the_environment_says(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    run = run_flow("settings_flow.py", root=tmp_path / "ds", env={"FLOWSTONE_DATASTORE_SYSROOT_LOCAL": str(elsewhere)})
    assert run.ok, run.output
    start = run.task("start")
    root = run.fds.datastore_root
    assert start["task_root"] == root  # the settings the step sees
    assert start["client_found"] == run.run_id  # the Client API reads the run's datastore
    assert start["child_root"] == root  # and so does a process the step starts
    assert not elsewhere.exists()
