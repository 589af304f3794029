"""Datastores made by real runs of tests/flows/maintenance_flow.py, and the `flowstone` command run on them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flowstone.datastore import FlowDataStore
from flowstone.datastore.maintenance import fsck
from flowstone.settings import Settings
from flowstone.storage import Storage, make_storage
from tests.runtime.helpers import FlowRun, run_flow

FLOW = "MaintenanceFlow"


def settings_for(root: Path | str, datastore: str = "local") -> Settings:
    return Settings.from_env(default_datastore=datastore, **{f"datastore_sysroot_{datastore}": str(root)})


def storage_for(root: Path | str, datastore: str = "local") -> Storage:
    return make_storage(datastore, settings_for(root, datastore))


def flow_datastore(root: Path | str, datastore: str = "local", flow: str = FLOW) -> FlowDataStore:
    return FlowDataStore(flow, settings=settings_for(root, datastore))


def make_run(root: Path | str, seed: int, *args: str, datastore: str = "local", env: dict[str, str] | None = None,
             ) -> FlowRun:  # fmt: skip
    run = run_flow("maintenance_flow.py", "--seed", str(seed), *args, root=root, datastore=datastore, env=env)
    assert run.ok, run.output
    return run


def flowstone(root: Path | str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `flowstone` command on the datastore at ``root`` (its type from the root's scheme). A crash (an abort
    at exit has been seen once on S3) prints every thread's stack to its stderr."""
    command = [sys.executable, "-X", "faulthandler", "-m", "flowstone.cli.main", "--datastore-root", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env={**os.environ, **(env or {})})


def read_everything(fds: FlowDataStore, run_id: str) -> int:
    """Load every artifact of every done task of the run (a missing or damaged blob raises); return how many."""
    loaded = 0
    for task in fds.get_task_datastores(run_id=run_id):
        loaded += sum(1 for _ in task.load_artifacts(list(task.records)))
    return loaded


def assert_clean(storage: Storage, notes: bool = False) -> None:
    """fsck finds no problem (and, if ``notes``, no leftovers either)."""
    report = fsck(storage)
    assert report.problems == [], report.problems
    if notes:
        assert report.notes == [], report.notes


def blob_keys(storage: Storage) -> set[str]:
    return {info.key.rsplit("/", 1)[-1] for info in storage.list_tree("data")
            if not info.key.startswith("data/_")}  # fmt: skip
