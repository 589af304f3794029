"""Running test flows as a user would (``python flow.py run`` in a subprocess) and reading what they stored."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.settings import Settings

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def task_order(task_id: str) -> tuple[int, str]:
    """Tasks in the order they started; the tasks of a @parallel step ('7', '7_node_1', ...) together."""
    return int(task_id.split("_")[0]), task_id


@dataclass
class FlowRun:
    proc: subprocess.CompletedProcess[str]
    run_id: str | None
    fds: FlowDataStore

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def tasks(self, step: str | None = None, allow_not_done: bool = False) -> list[TaskDataStore]:
        assert self.run_id is not None
        stores = self.fds.get_task_datastores(
            run_id=self.run_id, steps=[step] if step else None, allow_not_done=allow_not_done
        )
        return sorted(stores, key=lambda t: task_order(t.task_id))

    def task(self, step: str, **kwargs: Any) -> TaskDataStore:
        (task,) = self.tasks(step, **kwargs)
        return task

    def end_result(self) -> Any:
        return self.task("end")["result"]


def run_flow(
    flow_file: str | Path,
    *run_args: str,
    root: Path | str,
    top_args: tuple[str, ...] = (),
    datastore: str = "local",
    env: dict[str, str] | None = None,
    command: str = "run",
    timeout: float = 300,
) -> FlowRun:
    path = Path(flow_file) if Path(flow_file).is_absolute() else FLOWS / flow_file
    scratch = Path(root).parent if datastore == "local" else Path(tempfile.gettempdir())
    run_id_file = scratch / f"run-id-{os.getpid()}-{path.stem}"
    run_id_file.unlink(missing_ok=True)
    extra = ["--run-id-file", str(run_id_file)] if command == "run" else []
    cmd = [sys.executable, str(path), "--datastore", datastore, "--datastore-root", str(root), *top_args, command,
           *extra, *run_args]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=path.parent
    )
    run_id = run_id_file.read_text() if run_id_file.exists() else None
    run_id_file.unlink(missing_ok=True)
    settings = Settings.from_env(default_datastore=datastore, **{f"datastore_sysroot_{datastore}": str(root)})
    return FlowRun(proc, run_id, FlowDataStore(_flow_class_name(path), settings=settings))


def _flow_class_name(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("class ") and "(FlowSpec)" in line:
            return line.split()[1].split("(")[0]
    raise AssertionError(f"no flow class in {path}")
