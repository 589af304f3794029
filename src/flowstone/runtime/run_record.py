"""A run: the options it is started with, its own records (the one written when it starts: who, what code,
which parameters, which graph; the one written when it ends: its status), and how it ended."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, NamedTuple

from flowstone.datastore import FlowDataStore
from flowstone.datastore.run_status import end_task_success
from flowstone.flow.configure import applied_configs
from flowstone.flow.flow_decorators import flow_decorators
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.include_file import IncludedFile, plain_values
from flowstone.flow.project import ProjectInfo
from flowstone.runtime.package import save_code_package
from flowstone.runtime.task_spec import RunInfo
from flowstone.settings import Settings

__all__ = [
    "NewRun",
    "RunOptions",
    "RunOutcome",
    "create_run",
    "finish_run",
    "python_version",
    "run_settings",
    "start_run",
]


class RunOptions(NamedTuple):
    max_workers: int = 16
    max_num_splits: int = 100
    tags: tuple[str, ...] = ()
    decospecs: tuple[str, ...] = ()
    run_id_file: str | None = None
    origin_run_id: str | None = None  # set by resume
    use_cache: bool = True  # reuse results of earlier tasks with the same cache key
    clone_only: bool = False  # resume: clone the origin's tasks even if their cache key changed
    project: ProjectInfo | None = None  # the flow's @project, on the branch the command line chose
    environment: str | None = None  # --environment: pypi, conda or uv build the steps' own environments


class RunOutcome(NamedTuple):
    run_id: str
    ok: bool
    failed_tasks: tuple[str, ...] = ()
    tasks_run: int = 0  # every task that finished, run or reused
    tasks_reused: int = 0  # of those, the ones that reused an earlier task's results (resume or the cache)
    seconds: float = 0.0


class NewRun(NamedTuple):
    """What the runner knows about a run when it starts it."""

    flow_cls: type[FlowSpec]
    username: str
    runtime: str  # where tasks run ('local', 'ray')
    parameters: dict[str, Any]  # as steps see them
    included: dict[str, IncludedFile]  # IncludeFile parameters, with their bytes
    tags: tuple[str, ...] = ()
    decospecs: tuple[str, ...] = ()
    origin_run_id: str | None = None
    configs: dict[str, Any] | None = None  # config name -> value
    project: ProjectInfo | None = None


def python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def create_run(fds: FlowDataStore, run: NewRun, run_id_file: str | None = None) -> tuple[str, str]:
    """Store the flow's code package and the run's record; return the new run's id and the package's key."""
    flow_file = sys.modules[run.flow_cls.__module__].__file__ or ""
    code_package, files = save_code_package(fds.ca_store, flow_file)
    parameters = {k: _jsonable(v) for k, v in run.parameters.items() if k not in run.included}
    for name, file in run.included.items():  # stored before any step runs; the record says where it came from
        parameters[name] = file.describe(fds.ca_store.put(file.raw).key)
    record = {
        "flow_name": run.flow_cls.__name__,
        "created_at": time.time(),
        "user": run.username,
        "system_tags": _system_tags(run),
        "parameters": parameters,
        "code_package": code_package,
        "code_files": files,
        "flow_file": os.path.basename(flow_file),
        "graph": run.flow_cls._get_graph().describe(),
        "origin_run_id": run.origin_run_id,
        "decospecs": list(run.decospecs),
        "flow_decorators": [_jsonable(d.describe()) for d in flow_decorators(run.flow_cls)],
        "configs": {k: _jsonable(v) for k, v in (run.configs or {}).items()},  # resume runs with these
        "project": run.project._asdict() if run.project else None,
        "runner": {"pid": os.getpid(), "host": os.uname().nodename},
    }
    run_id = fds.create_run(record)
    fds.save_run_tags(run_id, run.tags)
    if run_id_file:
        with open(run_id_file, "w") as f:
            f.write(run_id)
    return run_id, code_package


def start_run(fds: FlowDataStore, flow_cls: type[FlowSpec], username: str, runtime: str, options: RunOptions,
              parameter_values: dict[str, Any]) -> RunInfo:  # fmt: skip
    """Record a new run of ``flow_cls``; return what its tasks share."""
    included = {name: v for name, v in parameter_values.items() if isinstance(v, IncludedFile)}
    o = options
    configs = applied_configs(flow_cls) or {}
    new_run = NewRun(flow_cls, username, runtime, plain_values(parameter_values), included, o.tags, o.decospecs,
                     o.origin_run_id, configs, o.project)  # fmt: skip
    run_id, code_package = create_run(fds, new_run, o.run_id_file)
    project = o.project._asdict() if o.project else None
    return RunInfo(flow_cls.__name__, run_id, run_settings(fds), username, o.tags, o.origin_run_id, code_package,
                   o.max_num_splits, configs, project)  # fmt: skip


def finish_run(fds: FlowDataStore, run_id: str, ok: bool, failed_tasks: list[str],
               counts: tuple[int, int] = (0, 0)) -> None:  # fmt: skip
    """Record how the run ended (a run without this record was interrupted, or its runner died at its end), with
    how many tasks completed (``counts[0]``) and how many of those were reused (``counts[1]``), for listings.
    It succeeded if its end step did: a failure @catch caught there is no success (``Run.successful`` says so)."""
    record = fds.load_run_record(run_id) or {}
    status = "succeeded" if ok and end_task_success(fds, run_id, record) is not None else "failed"
    tasks = {"done": counts[0], "reused": counts[1]}
    fds.save_run_end(run_id, {"status": status, "finished_at": time.time(), "failed_tasks": failed_tasks,
                              "tasks": tasks})  # fmt: skip


def run_settings(fds: FlowDataStore) -> Settings:
    """The run's settings, naming its datastore as resolved (so every task, and what it starts, finds it)."""
    if fds.TYPE == "memory":
        return fds.settings
    return fds.settings.replace(default_datastore=fds.TYPE, **{f"datastore_sysroot_{fds.TYPE}": fds.datastore_root})


def _system_tags(run: NewRun) -> list[str]:
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    project = run.project.system_tags if run.project else []
    return [f"user:{run.username}", f"runtime:{run.runtime}", f"python_version:{python_version()}", f"date:{today}",
            *project]  # fmt: skip


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
