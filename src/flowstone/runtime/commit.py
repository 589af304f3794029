"""Committing a task: the one place that writes a task's DONE marker, and says when.

A task attempt counts (for the client, for resume, for the cache) only once its DONE marker is written, and the
marker is written last:

1. the task process stores the attempt's artifacts and metadata (``runtime/task.py``);
2. when the process has exited, the runner stores the output it collected (:class:`AttemptLogs`), replacing
   what it stored of it while the attempt ran (:func:`save_live_logs`: only a log, never a marker);
3. if the attempt succeeded, the runner writes DONE (a failed attempt never gets one, so a later attempt, or a
   resume, finds it failed), and only then points the cache index at it.

A task that is reused instead of run (a resume clone or a cache hit) is committed the same way by
:func:`commit_clone`: its records are written (artifacts by reference, the origin's metadata and logs), then DONE.
A process killed at any point before DONE leaves a task that is simply not done.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.errors import StorageError
from flowstone.executors.base import Exited
from flowstone.runtime.cache import CacheKey, TaskCache
from flowstone.runtime.resume import OriginTask
from flowstone.runtime.task_spec import TaskResult, TaskSpec

__all__ = ["AttemptLogs", "commit_attempt", "commit_clone", "save_live_logs", "why_it_died"]

STREAMS = ("stdout", "stderr")
#: A running attempt's output is stored at most this often, and only when it printed something since: an
#: attempt that ends sooner is stored once, when it ends.
LIVE_LOG_SECONDS = 1.0
#: The runner spends at most about 1/LIVE_LOG_COST of its time storing running attempts' output: the wait
#: after a store grows with what it took (a long log, slow storage) times the number of running attempts.
LIVE_LOG_COST = 20


class AttemptLogs:
    """The lines an attempt printed, with the time each arrived, per stream."""

    def __init__(self) -> None:
        self.lines: dict[str, list[bytes]] = {stream: [] for stream in STREAMS}
        self.times: dict[str, list[float]] = {stream: [] for stream in STREAMS}
        self.live_due: float | None = None  # when (time.monotonic) the lines not stored yet are due to be
        self._stored_at, self._live_gap = time.monotonic(), LIVE_LOG_SECONDS

    def add(self, stream: str, line: bytes) -> None:
        self.lines[stream].append(line)
        self.times[stream].append(time.time())
        if self.live_due is None:
            self.live_due = self._stored_at + self._live_gap

    def save(self, datastore: TaskDataStore, durable: bool = True) -> None:
        for stream in STREAMS:
            if self.lines[stream]:
                datastore.save_log(stream, b"\n".join(self.lines[stream]) + b"\n", timestamps=self.times[stream],
                                   durable=durable)  # fmt: skip
        self.live_due, self._stored_at = None, time.monotonic()

    def save_live(self, fds: FlowDataStore, spec: TaskSpec, running: int) -> None:
        """Store the output so far of the attempt ``spec``, running beside ``running - 1`` others."""
        started = time.monotonic()
        try:
            datastore = fds.get_datastore_for_task(spec.run_id, spec.step_name, spec.task_id, spec.attempt, "w")
            self.save(datastore, durable=False)  # the attempt's end stores it again, durably
        except StorageError:  # it is stored when the attempt ends; until then, try again after a while
            self.live_due = time.monotonic() + LIVE_LOG_SECONDS
        self._live_gap = max(LIVE_LOG_SECONDS, LIVE_LOG_COST * running * (time.monotonic() - started))


def save_live_logs(fds: FlowDataStore, running: list[tuple[TaskSpec, AttemptLogs]],
                   timeout: float | None) -> float | None:  # fmt: skip
    """Store the output so far of the running attempts whose lines are due to be stored; return ``timeout``
    (seconds, None: no limit), shortened to when the next attempt's lines are due."""
    now = time.monotonic()
    for spec, logs in running:
        if logs.live_due is not None and logs.live_due <= now:
            logs.save_live(fds, spec, len(running))
    waits = [logs.live_due - time.monotonic() for _, logs in running if logs.live_due is not None]
    if timeout is not None:
        waits.append(timeout)
    return max(0.0, min(waits)) if waits else None


def why_it_died(exited: Exited, stopped_by_run: bool) -> str:
    """What to tell of an attempt whose process died (stored in its stderr log too)."""
    if stopped_by_run:
        return "The task was stopped because the run failed."
    if exited.returncode == -signal.SIGSEGV:
        return f"The task process {exited.description}: the task failed with a segmentation fault."
    return f"The task process {exited.description}."


def commit_attempt(
    fds: FlowDataStore,
    spec: TaskSpec,
    logs: AttemptLogs,
    result: TaskResult | None,
    died: str | None = None,
    cache: tuple[TaskCache, CacheKey] | None = None,
) -> None:
    """Commit an attempt whose process has exited. ``result`` is what it returned (None if the process died,
    for the reason ``died``); ``cache`` is where to record a successful result that may be reused."""
    datastore = fds.get_datastore_for_task(spec.run_id, spec.step_name, spec.task_id, spec.attempt, "w")
    if result is None and died:
        logs.add("stderr", died.encode())  # the log says why it ends there, as the console did
    logs.save(datastore)
    if result is None:
        exception = {"type": "ProcessDied", "message": died or "The task process died.", "traceback": None}
        datastore.save_metadata({"attempt_ok": False, "exception": exception})
        return
    if not result.ok:
        return
    datastore.done()  # valid even if the run is failing: a resume can reuse it
    if cache is not None and not result.caught:  # a caught failure is no result to reuse
        task_cache, key = cache
        task_cache.record(key, spec.run_id, spec.step_name, spec.task_id, spec.attempt)


def commit_clone(
    fds: FlowDataStore, origin: OriginTask, run_id: str, task_id: str, input_paths: list[str], cache: dict[str, Any]
) -> None:
    """Record ``origin`` as task ``task_id`` of run ``run_id``: artifacts by reference, metadata and logs copied."""
    source = origin.datastore
    target = fds.get_datastore_for_task(run_id, source.step_name, task_id, attempt=0, mode="w")
    target.save_artifacts((), refs=source.records.items())  # no attempt marker: nothing ran (one write less)
    for stream in STREAMS:
        lines = source.load_log_lines(stream)
        if lines:
            times = [t for t, _ in lines]
            target.save_log(stream, "\n".join(line for _, line in lines) + "\n",
                            timestamps=times if None not in times else None)  # type: ignore[arg-type]  # fmt: skip
    target.save_metadata(
        {
            **origin.metadata,  # the origin's cards come with it: its metadata lists them (flowstone.cards)
            "attempt": 0,
            "input_paths": [f"{run_id}/{p}" for p in input_paths],
            "origin_pathspec": source.pathspec,
            "origin_run_id": source.run_id,
            "cache": cache,
        }
    )
    target.done()
