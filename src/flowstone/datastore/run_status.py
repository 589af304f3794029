"""How a run stands: running, succeeded, failed or interrupted, and when it ended. One answer for every reader
(the Client API's ``Run.status`` and ``Run.successful``, ``flowstone runs``, gc's retention).

- The record written when the run ends (``_end.json``) says how it ended: succeeded if its end step succeeded
  (a run whose end step failed and @catch caught it ends with exit code 0, as in Metaflow, but failed).
- Without it (the runner died before writing it, or the record is damaged), a run whose end step completed
  successfully succeeded: its results are all there.
- Otherwise, a run whose runner was on this machine and is gone was interrupted; it ended when it last wrote
  something. Any other run is running (its runner may be on another machine).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from flowstone.datastore import layout
from flowstone.datastore.flow_datastore import FlowDataStore
from flowstone.errors import IntegrityError, TaskNotDone

__all__ = ["RunState", "end_task_success", "graph_endpoints", "process_alive", "run_state"]


class RunState(NamedTuple):
    status: str  # 'running', 'succeeded', 'failed' or 'interrupted'
    #: When it ended (seconds since the epoch): from its end record, its end task, or (interrupted) its last
    #: write; None while it runs.
    ended_at: float | None
    #: The record written when it ended (None if there is none, or it is damaged)
    outcome: dict[str, Any] | None = None


def run_state(fds: FlowDataStore, run_id: str, record: dict[str, Any] | None = None) -> RunState:
    """How run ``run_id`` stands. ``record`` is its run record, if the caller has read it."""
    try:
        outcome = fds.load_run_end(run_id)
    except IntegrityError:  # a damaged end record says nothing: the run is judged by what else is stored
        outcome = None
    if outcome and outcome.get("status"):
        return RunState(str(outcome["status"]), outcome.get("finished_at"), outcome)
    record = record if record is not None else (fds.load_run_record(run_id) or {})
    ended = end_task_success(fds, run_id, record)
    if ended is not None:
        return RunState("succeeded", ended)
    runner = record.get("runner") or {}
    if runner.get("host") == os.uname().nodename and not process_alive(int(runner.get("pid", 0))):
        return RunState("interrupted", _last_write(fds, run_id))
    return RunState("running", None)


def graph_endpoints(record: dict[str, Any]) -> tuple[str, str]:
    """(start step, end step) of a run's graph, as its record describes it."""
    graph = record.get("graph", {})
    steps = graph.get("steps", [])
    start = graph.get("start_step") or next((s["name"] for s in steps if s.get("type") == "start"), None)
    end = graph.get("end_step") or next((s["name"] for s in steps if s.get("type") == "end"), None)
    end = end or next((s["name"] for s in steps if not s.get("next")), None)
    return start or (steps[0]["name"] if steps else "start"), end or "end"


def end_task_success(fds: FlowDataStore, run_id: str, record: dict[str, Any]) -> float | None:
    """When the run's end task finished, if it completed and its step succeeded (not a failure @catch caught)."""
    _, end_step = graph_endpoints(record)
    for task_id in fds.list_task_ids(run_id, end_step):
        try:
            task = fds.get_datastore_for_task(run_id, end_step, task_id)
            metadata = task.load_metadata(["attempt_ok", "caught"])
            info = task.done_info()
        except (TaskNotDone, IntegrityError):  # not done, or its record is damaged: not a success
            continue
        if info and metadata.get("attempt_ok", True) and not metadata.get("caught"):
            return float(info.get("finished_at") or 0.0)
    return None


def _last_write(fds: FlowDataStore, run_id: str) -> float | None:
    times = [info.modified for info in fds.storage.list_tree(layout.run_prefix(fds.flow_name, run_id))]
    return max(times) if times else None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
