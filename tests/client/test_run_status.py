"""One answer to how a run stands, from the Client API and from `flowstone runs`; tasks that have not started."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone import Run, Task
from flowstone.client import context
from flowstone.datastore import layout
from flowstone.datastore.records import dump_record
from flowstone.errors import FlowstoneNotFound
from tests.runtime.helpers import FlowRun, run_flow


@pytest.fixture
def done(tmp_path: Path) -> Iterator[FlowRun]:
    run = run_flow("maintenance_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    context.datastore("local", str(tmp_path / "ds"))
    context.namespace(None)
    yield run
    context.default_metadata()
    context.default_namespace()


def _run_folder(run: FlowRun) -> Path:
    return Path(run.fds.storage.root) / "MaintenanceFlow" / str(run.run_id)


def _runs_table(run: FlowRun) -> list[str]:
    listed = subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", run.fds.storage.root,
                             "runs", "MaintenanceFlow", "-A"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return next(line for line in listed.stdout.splitlines() if line.startswith(str(run.run_id))).split()


def test_a_task_folder_holding_only_a_temporary_file_is_a_task_not_started(done: FlowRun) -> None:
    starting = _run_folder(done) / "end" / "99"
    starting.mkdir()
    (starting / ".tmp-0.attempt.json-5f3a").write_bytes(b"")  # a task starting, or a write the disk refused
    run = Run(f"MaintenanceFlow/{done.run_id}")
    assert run.successful and run.status == "succeeded"
    newest = run.end_task
    assert newest is not None and newest.id == "99"
    assert not newest.finished and not newest.successful and newest.created_at is None
    assert list(newest) == [] and newest.metadata == [] and newest.stdout == ""
    for step in run:
        for task in step:
            assert task.finished or task.id == "99"
    assert not Task(f"MaintenanceFlow/{done.run_id}/end/99").finished
    with pytest.raises(FlowstoneNotFound):
        Task(f"MaintenanceFlow/{done.run_id}/end/100")
    shown = subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", done.fds.storage.root,
                            "show", f"MaintenanceFlow/{done.run_id}/end"], capture_output=True, text=True)  # fmt: skip
    assert shown.returncode == 0 and "not started" in shown.stdout, shown.stderr


def test_a_run_whose_end_record_was_not_written_succeeded_for_everyone(done: FlowRun) -> None:
    (_run_folder(done) / layout.RUN_END).unlink()  # its runner died right after the end step
    run = Run(f"MaintenanceFlow/{done.run_id}")
    assert run.status == "succeeded" and run.successful
    assert _runs_table(done)[1] == "succeeded"


def test_an_interrupted_run_stops_its_clock(done: FlowRun) -> None:
    folder = _run_folder(done)
    (folder / layout.RUN_END).unlink()
    for path in (folder / "end").rglob("*"):
        path.unlink() if path.is_file() else None
    record = done.fds.load_run_record(str(done.run_id))
    assert record is not None
    record["runner"]["pid"] = 2**22 + 12345  # no such process here: its runner is gone
    (folder / layout.RUN_RECORD).write_bytes(dump_record(record))
    assert Run(f"MaintenanceFlow/{done.run_id}").status == "interrupted"
    assert not Run(f"MaintenanceFlow/{done.run_id}").successful
    first, again = _runs_table(done), _runs_table(done)
    assert first[1] == "interrupted" and first[4] == again[4] and not first[4].endswith("+")
