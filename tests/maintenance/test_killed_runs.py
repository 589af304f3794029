"""A run killed at any moment (its runner and its tasks together, with SIGKILL) leaves a datastore that fsck finds
sound, whose finished tasks read, whose run resumes, and whose cache gives what an uninterrupted run gives."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from flowstone.datastore.maintenance import fsck
from tests.maintenance.helpers import flow_datastore, read_everything, storage_for
from tests.runtime.helpers import FLOWS, FlowRun, run_flow

WIDTH = 4
#: Output lines of an uninterrupted run: four before the first task, two per task, the foreach's, the last one.
LINES = 4 + 2 * (WIDTH + 3) + 1 + 1


def _total(seed: int) -> int:
    """What the end step computes: the parts of the foreach and the seed's own bytes."""
    return WIDTH * 3100 + len(f"seed {seed} ") * 500


def _killed_run(root: Path, seed: int, after_lines: int) -> str | None:
    """Start a run and kill its whole process group once it has printed ``after_lines`` lines (or ended)."""
    id_file = root.parent / f"killed-{seed}"
    command = [sys.executable, str(FLOWS / "maintenance_flow.py"), "--datastore-root", str(root), "run",
               "--run-id-file", str(id_file), "--seed", str(seed), "--width", str(WIDTH)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=FLOWS,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    for _ in range(after_lines):
        if not proc.stdout.readline():
            break
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and any task, wherever each one is
    proc.wait(timeout=60)
    proc.stdout.close()
    return id_file.read_text() if id_file.exists() else None


def _decisions(run: FlowRun) -> list[str]:
    return [task.load_metadata(["cache"])["cache"]["decision"] for task in run.tasks()]


def _assert_whole(run: FlowRun, seed: int) -> None:
    assert run.ok, run.output
    assert run.task("end")["total"] == _total(seed)


def test_a_run_killed_at_any_moment_reads_resumes_and_caches(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for seed, after in enumerate(sorted(random.Random(18).sample(range(1, LINES + 1), 6)), start=1):
        run_id = _killed_run(root, seed, after)
        report = fsck(storage_for(root))
        assert report.problems == [], (after, report.problems)  # leftovers of the kill are notes at most
        fds = flow_datastore(root)
        if run_id is not None and run_id in fds.list_run_ids():
            read_everything(fds, run_id)  # every task it finished reads back whole
            resumed = run_flow("maintenance_flow.py", "--origin-run-id", run_id, root=root, command="resume")
            resumed.run_id = max(fds.list_run_ids(), key=int)  # resume takes no --run-id-file
            _assert_whole(resumed, seed)
        plain = run_flow("maintenance_flow.py", "--seed", str(seed), "--width", str(WIDTH), root=root)
        _assert_whole(plain, seed)
        again = run_flow("maintenance_flow.py", "--seed", str(seed), "--width", str(WIDTH), root=root)
        _assert_whole(again, seed)
        assert set(_decisions(again)) == {"hit"}, (after, _decisions(again))
    assert fsck(storage_for(root)).problems == []
