"""A task's metadata as Metaflow's client presents it, built from what flowstone records.

Each attempt contributes Metaflow's entries, named and typed as Metaflow names them, with string values:
``attempt``, ``origin-run-id`` (``'None'`` for a task of a run that resumed nothing), ``origin-task-id`` (only for
a task that reuses another's results), ``ds-type``, ``ds-root``, ``user``, ``python_version``, ``runtime``,
``script-name``, ``attempt_ok`` (type ``internal_attempt_status``) and ``attempt-done``. Entries a step records
itself (``self._datastore.save_metadata``) follow under their own names, with their JSON values. A task that
reuses another's results (resume, the cache) shows its origin's entries, every attempt of it, with its own
``origin-run-id`` and ``origin-task-id``: it has the metadata of its origin but those two.

flowstone's own records of the attempt (its cache key, input paths, foreach stack, timings and the like) are not
part of this view: they differ between a reused task and its origin where Metaflow's do not. They stay readable
with ``Task._get_datastore().load_metadata()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from flowstone.client.base import Metadata
from flowstone.datastore import TaskDataStore
from flowstone.errors import DataException, FlowstoneNotFound

if TYPE_CHECKING:
    from flowstone.client.tasks import Task

__all__ = ["RUNTIME_RECORDS", "entries"]

#: What the runtime records for every attempt (runtime/task.py, runtime/commit.py): flowstone's bookkeeping.
RUNTIME_RECORDS = frozenset({
    "attempt", "attempt_ok", "started_at", "finished_at", "input_paths", "foreach_stack", "next_steps",
    "foreach_var", "num_splits", "exception", "code_package", "decorators", "origin_run_id", "origin_pathspec",
    "user", "hostname", "pid", "python_version", "fallback", "caught", "cache", "external_reads",
})  # fmt: skip


class _RunFacts(NamedTuple):
    """What every attempt's view shares: facts of the run and its datastore."""

    ds_type: str
    ds_root: str
    runtime: str
    script_name: str


def entries(task: Task) -> list[Metadata]:
    """Every attempt's entries, oldest attempt first (only the attempt asked for, if the task was given one).

    A task that reuses another's results (by resume or the cache) shows its origin's entries, attempts included,
    with its own ``origin-run-id`` and ``origin-task-id``: what produced the results is the origin's history.
    """
    origin = _origin(task) if task._attempt is None else None
    if origin is None:
        return _own_entries(task)
    recorded = task._datastore().metadata_entries()
    inherited = [m._replace(task=task) for m in entries(origin) if m.name not in _ORIGIN_NAMES]
    return inherited + [m for m in _attempt_view(task, 0, recorded, True, _facts(task)) if m.name in _ORIGIN_NAMES]


_ORIGIN_NAMES = ("origin-run-id", "origin-task-id")


def _origin(task: Task) -> Task | None:
    """The task whose results ``task`` reuses (None if it ran, or if its origin is gone)."""
    from flowstone.client.tasks import Task

    pathspec = task._meta.get("origin_pathspec")
    if not pathspec:
        return None
    try:
        return Task(pathspec, _namespace_check=False, _ds=task._ds)
    except FlowstoneNotFound:
        return None


def _facts(task: Task) -> _RunFacts:
    run = task._run()
    return _RunFacts(task._fds.TYPE, task._fds.datastore_root, task.runtime_name or "local",
                     run._run_record.get("flow_file", ""))  # fmt: skip


def _own_entries(task: Task) -> list[Metadata]:
    facts = _facts(task)
    selected = task._datastore()
    numbers = [selected.attempt] if task._attempt is not None else sorted(a for a in selected.attempts()
                                                                          if a <= selected.attempt)  # fmt: skip
    found: list[Metadata] = []
    for number in numbers:
        store = selected if number == selected.attempt else _attempt_store(task, number)
        done = store.done_info() is not None if store is not None else False
        recorded = store.metadata_entries() if store is not None else {}
        found.extend(_attempt_view(task, number, recorded, done, facts))
    return found


def _attempt_store(task: Task, attempt: int) -> TaskDataStore | None:
    _, run_id, step, task_id = task._parts
    try:
        return task._fds.get_datastore_for_task(run_id, step, task_id, attempt, allow_not_done=True)
    except DataException:  # an attempt that left no records shows only its number
        return None


def _attempt_view(task: Task, attempt: int, recorded: dict[str, dict[str, Any]], done: bool,
                  facts: _RunFacts) -> Iterator[Metadata]:  # fmt: skip
    def value(name: str) -> Any:
        return recorded.get(name, {}).get("value")

    def when(name: str) -> int:
        entry = recorded.get(name) or recorded.get("attempt") or {}
        return int(float(entry.get("timestamp", 0)) * 1000)

    def entry(name: str, text: Any, source: str = "attempt", kind: str | None = None) -> Metadata:
        return Metadata(name, text, when(source), kind or name, task)

    yield entry("attempt", str(attempt))
    yield entry("origin-run-id", str(value("origin_run_id")), "origin_run_id")
    origin = value("origin_pathspec")
    if origin:
        yield entry("origin-task-id", str(origin).rsplit("/", 1)[-1], "origin_pathspec")
    yield entry("ds-type", facts.ds_type)
    yield entry("ds-root", facts.ds_root)
    for name in ("user", "python_version"):
        if name in recorded:
            yield entry(name, str(value(name)), name)
    yield entry("runtime", facts.runtime)
    yield entry("script-name", facts.script_name)
    if "attempt_ok" in recorded:
        yield entry("attempt_ok", str(bool(value("attempt_ok"))), "attempt_ok", "internal_attempt_status")
    if done:
        yield entry("attempt-done", str(attempt), "attempt_ok")
    for name, item in recorded.items():
        if name not in RUNTIME_RECORDS:
            yield Metadata(name, item.get("value"), int(float(item.get("timestamp", 0)) * 1000), name, task)
