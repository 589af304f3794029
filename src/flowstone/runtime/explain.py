"""Answers about the cache: why a task ran (``why``), and what a run would reuse before it starts (``plan``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from flowstone import reads
from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.errors import DataException, IntegrityError
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.include_file import plain_values
from flowstone.runtime.cache import TaskCache
from flowstone.runtime.read_checks import describe_read
from flowstone.runtime.scheduler import FinishedTask, Scheduler, TaskPlan
from flowstone.runtime.step_config import step_decorators
from flowstone.runtime.why import describe_differences

__all__ = ["PlannedTask", "earlier_twins", "explain_task", "plan_run", "read_lines"]


def _foreach_position(metadata: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(f["index"]) for f in metadata.get("foreach_stack") or [])


def earlier_twins(fds: FlowDataStore, run_id: str, step_name: str,
                  positions: set[tuple[int, ...]]) -> dict[tuple[int, ...], tuple[str, dict]]:  # fmt: skip
    """For each foreach position, the same step at that position in the newest run before ``run_id`` that has a
    cache key for it: (its pathspec, its key's components). Runs are read newest first, until all are found."""
    found: dict[tuple[int, ...], tuple[str, dict]] = {}
    earlier = sorted((r for r in fds.list_run_ids() if r.isdigit() and int(r) < int(run_id)), key=int)
    for earlier_run in reversed(earlier):
        if len(found) == len(positions):
            break
        if step_name not in fds.list_steps(earlier_run):
            continue
        for candidate in fds.get_task_datastores(run_id=earlier_run, steps=[step_name]):
            try:
                meta = candidate.load_metadata(["foreach_stack", "cache"])
            except IntegrityError:  # a damaged record is no key to compare with; the reason above names it
                continue
            components = (meta.get("cache") or {}).get("components")
            position = _foreach_position(meta)
            if components and position in positions and position not in found:
                found[position] = (candidate.pathspec, components)
    return found


def explain_task(fds: FlowDataStore, task: TaskDataStore) -> Iterator[str]:
    """Lines saying whether the task reused earlier results, and if not, what differs from the nearest key; then
    what it read from outside its inputs (checked again before it is reused)."""
    metadata = task.load_metadata()
    yield from _decision_lines(fds, task, metadata)
    yield from read_lines(metadata.get("external_reads"))


def _decision_lines(fds: FlowDataStore, task: TaskDataStore, metadata: dict[str, Any]) -> Iterator[str]:
    cache = metadata.get("cache") or {}
    decision = cache.get("decision")
    head = f"{task.pathspec}:"
    reads_note = f"; {cache['reads']}" if cache.get("reads") else ""
    if decision == "hit":
        yield f"{head} cache hit, reused {cache.get('source')} (same code, inputs and environment{reads_note})"
        return
    if decision == "resumed":
        yield f"{head} cloned by resume from {cache.get('source')} (its key was unchanged{reads_note})"
        return
    if decision == "off":
        yield f"{head} ran, not cached: {cache.get('reason')}"
        return
    if decision is None:
        yield f"{head} ran; it has no cache record (it ran before caching existed, or failed before starting)"
        return
    yield f"{head} ran ({decision}): {cache.get('reason')}"
    if cache.get("cause", "key") != "key":
        return  # the earlier task with the same key was found, and the reason says why it was not reused
    components = cache.get("components")
    position = _foreach_position(metadata)
    twin = earlier_twins(fds, task.run_id, task.step_name, {position}).get(position) if components else None
    if twin is None:
        yield "  no earlier run of this step to compare with"
        return
    pathspec, old = twin
    assert components is not None
    yield f"  compared with {pathspec}:"
    differences = describe_differences(old, components, lambda key: _source(fds, key))
    if not differences:
        yield "  the keys are equal: the earlier task was not reusable (see the reason above)"
    for line in differences:
        yield f"  {line}"


def read_lines(stored: Any, limit: int = 20) -> Iterator[str]:
    """What a task read from outside its artifacts and parameters, one read a line."""
    by_kind = reads.stored_reads(stored)
    if not by_kind:
        return
    yield "  what it read from outside its inputs (checked again before its results are reused):"
    for kind, answers in by_kind.items():
        for answer in answers[:limit]:
            yield f"    {describe_read(kind, answer)}"
        if len(answers) > limit:
            yield f"    ... and {len(answers) - limit} more ({kind})"


def _source(fds: FlowDataStore, key: str) -> str | None:
    try:
        return bytes(fds.ca_store.load_blob(key)).decode("utf-8")
    except DataException:
        return None


class PlannedTask(NamedTuple):
    step_name: str
    outcome: str  # 'hit', 'miss', 'off' or 'run' (waits on a task that will run)
    detail: str


def plan_run(
    flow_cls: type[FlowSpec], fds: FlowDataStore, parameters: dict[str, Any], decospecs: tuple[str, ...] = ()
) -> list[PlannedTask]:
    """What ``run`` would reuse from the cache with these parameters, found without running anything.

    Tasks are followed only through cache hits: past the first task that would run, inputs are unknown.
    """
    parameters = plain_values(parameters)
    graph = flow_cls._get_graph()
    cache = TaskCache(flow_cls, fds, step_decorators(graph, decospecs))
    scheduler = Scheduler(graph)
    located: dict[str, tuple[str, str, int]] = {}  # simulated "step/id" -> where the reused task is
    planned: list[PlannedTask] = []
    queue: list[TaskPlan] = scheduler.initial()
    reached: set[str] = set()
    counter = 0
    while queue:
        plan = queue.pop(0)
        reached.add(plan.step_name)
        not_cacheable = cache.why_not_cacheable(plan.step_name)
        if not_cacheable is not None:
            planned.append(PlannedTask(plan.step_name, "off", not_cacheable))
            continue
        key = cache.key_for(plan, located.__getitem__, parameters)
        found = cache.lookup(key)
        if found.source is None:
            planned.append(PlannedTask(plan.step_name, "miss", found.reason))
            continue
        planned.append(PlannedTask(plan.step_name, "hit", found.source))
        _, run_id, step_name, task_id = found.source.split("/")
        meta = fds.get_datastore_for_task(run_id, step_name, task_id, attempt=found.attempt).load_metadata()
        counter += 1
        sim_id = f"sim{counter}"
        located[f"{step_name}/{sim_id}"] = (run_id, task_id, found.attempt)
        finished = FinishedTask(step_name, sim_id, plan.foreach_stack, tuple(meta.get("next_steps") or []),
                                meta.get("foreach_var"), int(meta.get("num_splits") or 0), plan.iteration)  # fmt: skip
        queue.extend(scheduler.finished(finished))
    for node in graph.sorted_nodes():
        if node.name not in reached:
            planned.append(PlannedTask(node.name, "run", "follows a task that will run"))
    return planned
