"""``why RUN``: every step of a run with its decision (reused or ran), grouped by what made it run: the part of
its cache key that changed (code, inputs, environment), a read that changed (a file, an environment variable, a
run found through the Client API, an S3 object), a read that cannot be checked (the network, unseeded random
numbers), or caching being off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from flowstone.datastore import FlowDataStore
from flowstone.errors import IntegrityError
from flowstone.runtime.explain import earlier_twins
from flowstone.runtime.why import summarize_differences

__all__ = ["explain_run"]

#: Each group, in the order shown, with its heading.
GROUPS = {
    "reused": "Reused",
    "code": "Ran: its code changed",
    "inputs": "Ran: its inputs changed",
    "environment": "Ran: its environment changed (Python or packages)",
    "format": "Ran: a newer flowstone (the cache key format changed)",
    "files": "Ran: a file it read changed",
    "env": "Ran: an environment variable it read changed",
    "client": "Ran: what it read through the Client API changed (a newer run, another artifact)",
    "s3": "Ran: an S3 object it read changed",
    "network": "Ran: it used the network, so it is not reused unless allowed",
    "random": "Ran: it drew unseeded random numbers, so it is not reused unless allowed",
    "stored": "Ran: the earlier task's records or data are damaged or gone",
    "new": "Ran: no earlier task to reuse (the step has not run with this key before)",
    "off": "Ran: not cached",
    "rerun": "Ran: resume runs it again",
}


class _Task(NamedTuple):
    step_name: str
    position: tuple[int, ...]
    cache: dict[str, Any]


def _tasks(fds: FlowDataStore, run_id: str) -> list[_Task]:
    tasks = []
    for task in fds.get_task_datastores(run_id=run_id, allow_not_done=True):
        try:
            meta = task.load_metadata(["cache", "foreach_stack"])
        except IntegrityError:
            meta = {}
        position = tuple(int(f["index"]) for f in meta.get("foreach_stack") or [])
        tasks.append(_Task(task.step_name, position, meta.get("cache") or {}))
    return tasks


def _key_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Which part of a key changed, the most telling first."""
    if old.get("format") != new.get("format"):
        return "format"
    for part in ("code", "inputs", "environment"):
        if old.get(part) != new.get(part):
            return part
    return "inputs" if old.get("iteration") != new.get("iteration") else "new"


def _grouped(fds: FlowDataStore, run_id: str, tasks: list[_Task]) -> dict[str, dict[str, list[str]]]:
    """Group -> step -> the reason of each of its tasks in that group."""
    needs_twin: dict[str, set[tuple[int, ...]]] = {}
    for task in tasks:
        if task.cache.get("decision") == "miss" and task.cache.get("cause", "key") == "key":
            needs_twin.setdefault(task.step_name, set()).add(task.position)
    twins = {step: earlier_twins(fds, run_id, step, positions) for step, positions in needs_twin.items()}
    groups: dict[str, dict[str, list[str]]] = {}
    for task in sorted(tasks, key=lambda t: t.position):
        decision, reason = task.cache.get("decision"), str(task.cache.get("reason") or "")
        if decision in ("hit", "resumed"):
            group = "reused"
        elif decision in ("off", "rerun"):
            group = str(decision)
        elif decision != "miss":
            group, reason = "off", "it has no cache record"
        elif task.cache.get("cause", "key") != "key":
            group = str(task.cache["cause"]) if task.cache["cause"] in GROUPS else "stored"
        else:
            twin = twins[task.step_name].get(task.position)
            components = task.cache.get("components") or {}
            group = _key_change(twin[1], components) if twin else "new"
            reason = summarize_differences(twin[1], components) if twin and group != "new" else reason
        groups.setdefault(group, {}).setdefault(task.step_name, []).append(reason)
    return groups


def explain_run(fds: FlowDataStore, run_id: str, step_order: list[str]) -> Iterator[str]:
    """Lines for ``why RUN``: a summary, then the run's steps by group (``step_order``: the steps in the order of
    the run's graph)."""
    tasks = _tasks(fds, run_id)
    groups = _grouped(fds, run_id, tasks)
    reused = sum(len(reasons) for reasons in groups.get("reused", {}).values())
    yield (f"Run {fds.flow_name}/{run_id}: {len(tasks)} tasks, {len(tasks) - reused} ran, {reused} reused "
           f"(why RUN/STEP[/TASK] says more about one step).")  # fmt: skip
    order = {name: i for i, name in enumerate(step_order)}
    for group, heading in GROUPS.items():
        steps = groups.get(group)
        if not steps:
            continue
        count = sum(len(reasons) for reasons in steps.values())
        yield f"{heading} ({count} task{'' if count == 1 else 's'}):"
        for step_name in sorted(steps, key=lambda name: (order.get(name, len(order)), name)):
            reasons = steps[step_name]
            label = step_name + (f" ({len(reasons)} tasks)" if len(reasons) > 1 else "")
            yield f"  {label}" if group == "reused" else f"  {label}: {reasons[0]}"
