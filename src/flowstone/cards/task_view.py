"""What the built-in cards show of a task, read from a Client API ``Task`` (or any object with its ``pathspec``,
``_get_datastore()`` and ``_run()``): its artifacts, parameters, timing, place in the graph and code."""

from __future__ import annotations

import inspect
import textwrap
import time
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["TaskFacts", "task_facts"]

#: Artifacts larger than this (serialized) are listed, not loaded, by the default card (Metaflow's limit).
MAX_ARTIFACT_SIZE = 200 * 1024 * 1024


class TaskFacts(NamedTuple):
    pathspec: str
    step_name: str
    attempt: int
    started: float | None
    finished: float | None
    user: str | None
    tags: list[str]
    parameter_names: list[str]
    graph_steps: list[dict[str, Any]]
    start_step: str | None
    step_source: str | None
    datastore: Any


def _run_record(task: Any) -> dict[str, Any]:
    try:
        return dict(task._run()._run_record or {})
    except Exception:  # a task-like object without a run: the card shows less
        return {}


def _graph(graph: Any, record: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The steps (dicts with name, type, next) and the start step, from ``graph`` as cards receive it (Metaflow's
    name -> step dict, or a run record's ``{"steps": [...], "start_step": ...}``), or the run's record."""
    if isinstance(graph, dict) and isinstance(graph.get("steps"), list):
        return graph["steps"], graph.get("start_step")
    if isinstance(graph, dict) and graph:
        steps = [{"name": name, **info} for name, info in graph.items() if isinstance(info, dict)]
        return steps, "start" if "start" in graph else (steps[0]["name"] if steps else None)
    recorded = record.get("graph") or {}
    return list(recorded.get("steps") or []), recorded.get("start_step")


def _step_source(flow: Any, step_name: str) -> str | None:
    function = getattr(type(flow), step_name, None) if flow is not None else None
    try:
        return textwrap.dedent(inspect.getsource(function)) if function is not None else None
    except (OSError, TypeError):
        return None


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, (int, float)) else None


def _timing(datastore: Any, metadata: dict[str, Any], runtime: bool) -> tuple[float | None, float | None]:
    started = metadata.get("started_at") or (datastore.attempt_info() or {}).get("started_at")
    done = datastore.done_info() if hasattr(datastore, "done_info") else None
    finished = (done or {}).get("finished_at") or metadata.get("finished_at")
    if finished is None and not runtime:
        finished = time.time()  # rendered as the task finishes (a card is stored with its attempt)
    return _timestamp(started), _timestamp(finished)


def task_facts(task: Any, graph: Any = None, flow: Any = None, runtime: bool = False) -> TaskFacts:
    """What the built-in cards need to know of ``task``."""
    datastore = task._get_datastore()
    record = _run_record(task)
    metadata = datastore.load_metadata(["started_at", "finished_at", "user"])
    steps, start = _graph(graph, record)
    try:
        tags = sorted(task.tags)
    except Exception:
        tags = []
    started, finished = _timing(datastore, metadata, runtime)
    return TaskFacts(
        pathspec=task.pathspec,
        step_name=task.pathspec.split("/")[2],
        attempt=int(getattr(datastore, "attempt", 0) or 0),
        started=started,
        finished=finished,
        user=metadata.get("user") or record.get("user"),
        tags=tags,
        parameter_names=sorted((record.get("parameters") or {}).keys()),
        graph_steps=steps,
        start_step=start,
        step_source=_step_source(flow, task.pathspec.split("/")[2]),
        datastore=datastore,
    )
