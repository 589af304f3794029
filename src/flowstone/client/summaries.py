"""Summaries of runs and tasks for listings (the ``flowstone ui`` pages, ``flowstone runs``): plain values read
with as few datastore reads as a listing allows.

A run's summary needs its record, its end record and its user tags; a task's, its attempt listing and its latest
attempt's records (the DONE record holds everything of a finished attempt). Runs are listed newest first and read
only as far as a page needs, so the first page of a flow with 10,000 runs reads 50 runs, not 10,000.
:class:`RunSummaries` keeps what cannot change (the records of a run that has ended) so that filtering the same
flow again reads only user tags and runs still going.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from flowstone.client.base import run_sort_key
from flowstone.client.runs import Flow, Run
from flowstone.client.tasks import Task
from flowstone.errors import DataException, FlowstoneNotFound

__all__ = [
    "FINAL_STATUSES",
    "RunFilter",
    "RunSummaries",
    "RunSummary",
    "TaskSummary",
    "run_count",
    "run_graph",
    "run_tasks",
    "summarize_task",
    "task_attempts",
]

#: A run with one of these statuses has ended: its records no longer change (its user tags still may).
FINAL_STATUSES = frozenset({"succeeded", "failed"})


class RunSummary(NamedTuple):
    """What a run listing shows of a run. Times are seconds since the epoch."""

    flow: str
    run_id: str
    status: str  # 'running', 'succeeded', 'failed' or 'interrupted'
    created_at: float
    finished_at: float | None
    user: str | None
    system_tags: tuple[str, ...]
    user_tags: tuple[str, ...]
    tasks_done: int | None  # tasks that completed (ran or reused); None when the run did not record it
    tasks_reused: int | None  # of those, reused from the cache or a resumed run
    origin_run_id: str | None

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.system_tags) | frozenset(self.user_tags)


class RunFilter(NamedTuple):
    """Which runs a listing keeps: every condition given must hold."""

    status: str | None = None
    user: str | None = None
    tag: str | None = None

    def needs_tags(self) -> bool:
        return self.tag is not None

    def keeps(self, summary: RunSummary) -> bool:
        return ((self.status is None or summary.status == self.status)
                and (self.user is None or summary.user == self.user)
                and (self.tag is None or self.tag in summary.tags))  # fmt: skip


def _user_of(system_tags: tuple[str, ...], record: dict[str, Any]) -> str | None:
    return record.get("user") or next((t[5:] for t in system_tags if t.startswith("user:")), None)


class _Fixed(NamedTuple):
    """The part of a run's summary that never changes once the run has ended."""

    created_at: float
    finished_at: float | None
    status: str
    user: str | None
    system_tags: tuple[str, ...]
    counts: tuple[int | None, int | None]
    origin_run_id: str | None


class RunSummaries:
    """Summaries of the runs of the flows of one datastore, read on demand and kept once a run has ended.

    Thread-safe: the UI's server threads share one. User tags are read each time they are needed (they change),
    unless ``keep_tags`` says for how long a read stays good.
    """

    def __init__(self) -> None:
        self._fixed: dict[tuple[str, str], _Fixed] = {}
        self._lock = threading.Lock()

    def summarize(self, run: Run, with_tags: bool = True) -> RunSummary:
        """The summary of ``run`` (its user tags left empty unless ``with_tags``)."""
        fixed = self._fixed_part(run)
        user_tags = tuple(sorted(run.user_tags)) if with_tags else ()
        return RunSummary(run._parts[0], run.id, fixed.status, fixed.created_at, fixed.finished_at, fixed.user,
                          fixed.system_tags, user_tags, *fixed.counts, fixed.origin_run_id)  # fmt: skip

    def _fixed_part(self, run: Run) -> _Fixed:
        key = (run._parts[0], run.id)
        with self._lock:
            known = self._fixed.get(key)
        if known is not None:
            return known
        record = run._run_record
        state = run._state  # the one answer to how a run stands (flowstone.datastore.run_status)
        status = state.status
        counts = (state.outcome or {}).get("tasks") or {}
        system_tags = tuple(sorted(record.get("system_tags", [])))
        fixed = _Fixed(float(record["created_at"]), state.ended_at, status, _user_of(system_tags, record),
                       system_tags, (counts.get("done"), counts.get("reused")),
                       record.get("origin_run_id"))  # fmt: skip
        if status in FINAL_STATUSES:
            with self._lock:
                self._fixed[key] = fixed
        return fixed

    def runs(self, flow: Flow, where: RunFilter | None = None, limit: int = 50,
             before: str | None = None) -> tuple[list[RunSummary], bool]:  # fmt: skip
        """Up to ``limit`` summaries of ``flow``'s runs that ``where`` keeps, newest first, starting after the run
        ``before`` (the last one of the previous page); and whether more follow."""
        where = where or RunFilter()
        found: list[RunSummary] = []
        for run in _runs_after(flow, before):
            try:
                summary = self.summarize(run, with_tags=False)
            except (FlowstoneNotFound, DataException):  # a run removed or damaged while listed: not listed
                continue
            if not RunFilter(where.status, where.user).keeps(summary):
                continue
            summary = summary._replace(user_tags=tuple(sorted(run.user_tags)))
            if not where.keeps(summary):
                continue
            if len(found) == limit:
                return found, True
            found.append(summary)
        return found, False


def run_count(flow: Flow) -> int:
    """How many runs ``flow`` has (every namespace's, running ones included), from one listing."""
    return len(flow._fds.list_run_ids())


def _runs_after(flow: Flow, before: str | None) -> Iterator[Run]:
    """The flow's runs newest first (every namespace's), after run ``before`` if given; not read yet (a run
    whose record is not written yet raises FlowstoneNotFound when summarized)."""
    run_ids = sorted(flow._fds.list_run_ids(), key=run_sort_key, reverse=True)
    if before is not None:
        run_ids = run_ids[run_ids.index(before) + 1 :] if before in run_ids else []
    for run_id in run_ids:
        yield Run._lazy(flow.id, run_id, flow._ds)


class TaskSummary(NamedTuple):
    """What a run's page shows of one task. Times are seconds since the epoch."""

    step: str
    task_id: str
    attempt: int
    status: str  # 'running', 'succeeded', 'failed' (a failure @catch caught counts as failed)
    started_at: float | None
    finished_at: float | None
    decision: str | None  # the cache decision: 'hit', 'resumed' (reused), 'miss', 'off', 'rerun'; None if unknown
    origin: str | None  # the task whose results it reuses
    foreach_index: int | None
    exception: str | None  # the exception's type, for a failed attempt

    @property
    def reused(self) -> bool:
        return self.origin is not None


def summarize_task(task: Task, run_ended: bool) -> TaskSummary:
    """The summary of ``task``'s latest attempt (read from its records: one listing and one record)."""
    store = task._datastore()
    meta = task._meta
    step, task_id = task._parts[2], task._parts[3]
    origin = meta.get("origin_pathspec")
    exception = (meta.get("exception") or {}).get("type")
    if task.finished:
        status = "failed" if meta.get("caught") or meta.get("attempt_ok") is False else "succeeded"
        finished = (task._done_info or {}).get("finished_at")
    else:
        status = "failed" if meta.get("attempt_ok") is False or run_ended else "running"
        finished = meta.get("finished_at")
    # a reused task's metadata is its origin's (times included): it took no time in this run
    started = finished if origin else meta.get("started_at")
    if started is None and not task.finished:
        started = (store.attempt_info() or {}).get("started_at")
    cache = meta.get("cache") or {}
    stack = meta.get("foreach_stack") or []
    return TaskSummary(step, task_id, store.attempt, status, started, finished, cache.get("decision"), origin,
                       int(stack[-1]["index"]) if stack else None, exception)  # fmt: skip


def task_attempts(task: Task) -> list[int]:
    """The numbers of the attempts ``task`` has records of, oldest first."""
    return sorted(task._datastore().attempts())


def run_tasks(run: Run) -> list[TaskSummary]:
    """Summaries of every task of ``run``, step by step in graph order, oldest task first."""
    ended = run._fds.load_run_end(run.id) is not None
    found = []
    for step in reversed(list(run)):
        for task in reversed(list(step)):
            try:
                found.append(summarize_task(task, ended))
            except FlowstoneNotFound:  # listed before its first record was written: not started yet
                continue
    return found


def run_graph(run: Run) -> dict[str, Any]:
    """The run's graph as recorded when it started: ``steps`` (name, type, next, foreach, ...), start and end."""
    return dict(run._run_record.get("graph") or {})
