"""Two runs of a flow side by side: parameters, what each step decided (ran or reused), and artifact values.

Tasks are matched by step and foreach index (a step without a foreach has one task); artifacts by name, and
compared by content hash, so nothing is loaded to find a difference. Small values are loaded to be shown.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowstone.client.runs import Run
from flowstone.client.summaries import TaskSummary, run_graph, run_tasks
from flowstone.client.tasks import Task
from flowstone.ui.previews import short_repr

__all__ = ["compare_runs"]

#: Values up to this size (serialized) are loaded and shown; larger ones are compared by hash only.
SHOWN_BYTES = 16 << 10
#: Tasks compared per step (a wide foreach shows its first ones).
TASKS_PER_STEP = 50


def _decisions(tasks: list[TaskSummary]) -> dict[str, Any]:
    return {"tasks": len(tasks), "reused": sum(t.reused for t in tasks),
            "status": dict(Counter(t.status for t in tasks))}  # fmt: skip


def _artifacts(run: Run, summary: TaskSummary | None) -> dict[str, Any]:
    if summary is None or summary.status != "succeeded":
        return {}
    task = Task(f"{run.pathspec}/{summary.step}/{summary.task_id}", _namespace_check=False)
    return {artifact.id: artifact for artifact in task}


def _shown(artifact: Any) -> dict[str, Any] | None:
    if artifact is None:
        return None
    value = short_repr(artifact.data, long=False) if artifact.size <= SHOWN_BYTES else None
    return {"sha": artifact.sha, "size": artifact.size, "type": artifact.type, "value": value}


def _compare_task(run_a: Run, run_b: Run, a: TaskSummary | None, b: TaskSummary | None) -> list[dict[str, Any]]:
    found_a, found_b = _artifacts(run_a, a), _artifacts(run_b, b)
    rows = []
    for name in sorted(set(found_a) | set(found_b)):
        shown_a, shown_b = _shown(found_a.get(name)), _shown(found_b.get(name))
        same = shown_a is not None and shown_b is not None and shown_a["sha"] == shown_b["sha"]
        rows.append({"name": name, "a": shown_a, "b": shown_b, "same": same})
    return rows


def _by_position(tasks: list[TaskSummary]) -> dict[str, dict[int | None, TaskSummary]]:
    found: dict[str, dict[int | None, TaskSummary]] = {}
    for task in tasks:
        found.setdefault(task.step, {})[task.foreach_index] = task  # the newest task at a position wins
    return found


def compare_runs(run_a: Run, run_b: Run) -> dict[str, Any]:
    """The comparison as JSON-ready values: ``parameters``, ``steps`` (decisions and artifacts per task)."""
    params_a, params_b = run_a.parameters, run_b.parameters
    parameters = [{"name": name, "a": short_repr(params_a.get(name), long=False) if name in params_a else None,
                   "b": short_repr(params_b.get(name), long=False) if name in params_b else None,
                   "same": name in params_a and name in params_b and params_a[name] == params_b[name]}
                  for name in sorted(set(params_a) | set(params_b))]  # fmt: skip
    tasks_a, tasks_b = run_tasks(run_a), run_tasks(run_b)
    at_a, at_b = _by_position(tasks_a), _by_position(tasks_b)
    names = [s["name"] for s in run_graph(run_b).get("steps", [])]
    names += [s["name"] for s in run_graph(run_a).get("steps", []) if s["name"] not in names]
    steps = []
    for name in names:
        positions = sorted(set(at_a.get(name, {})) | set(at_b.get(name, {})), key=lambda i: (i is None, i or 0))
        compared = [{"index": index,
                     "artifacts": _compare_task(run_a, run_b, at_a.get(name, {}).get(index),
                                                at_b.get(name, {}).get(index))}
                    for index in positions[:TASKS_PER_STEP]]  # fmt: skip
        steps.append({"step": name, "a": _decisions([t for t in tasks_a if t.step == name]),
                      "b": _decisions([t for t in tasks_b if t.step == name]), "tasks": compared,
                      "more_tasks": max(0, len(positions) - TASKS_PER_STEP)})  # fmt: skip
    return {"a": run_a.id, "b": run_b.id, "parameters": parameters, "steps": steps}
