"""The Client API's steps and tasks: ``Step`` (a step of a run: its tasks) and ``Task`` (one attempt of a task:
its artifacts, logs, metadata and lineage). Artifact values load one by one, when accessed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowstone.client.artifacts import DataArtifact, MetaflowArtifacts, MetaflowData
from flowstone.client.base import ClientObject, Metadata, run_sort_key, to_datetime
from flowstone.client.code import MetaflowCode
from flowstone.datastore import TaskDataStore
from flowstone.errors import DataException, ExceptionWrapper

# flowstone.client.runs imports this module (a run lists its steps), so Run is imported where it is used
if TYPE_CHECKING:
    from flowstone.client.runs import Run

__all__ = ["Step", "Task"]


class Step(ClientObject):
    """One step of a run: its tasks."""

    _DEPTH, _KIND = 3, "step"

    def __init__(self, pathspec: str, *, _namespace_check: bool = True, _ds: tuple[str, str] | None = None) -> None:
        from flowstone.client.runs import Run

        super().__init__(pathspec, _namespace_check=_namespace_check, _ds=_ds)
        run = Run("/".join(self._parts[:2]), _namespace_check=_namespace_check, _ds=self._ds)
        if self.id not in run:
            raise self._not_found()

    @classmethod
    def _child(cls, run: Run, step_name: str) -> Step:
        step = cls.__new__(cls)
        ClientObject.__init__(step, f"{run.pathspec}/{step_name}", _ds=run._ds)
        return step

    def _task_ids(self) -> list[str]:
        return sorted(self._fds.list_task_ids(self._parts[1], self.id), key=run_sort_key)

    def __iter__(self) -> Iterator[Task]:
        for task_id in self._task_ids():
            yield Task._child(self, task_id)

    def tasks(self, *tags: str) -> Iterator[Task]:
        """The step's tasks (tags are a run-level notion here: a run's tasks share its tags)."""
        if tags and not set(tags) <= self._run().tags:
            return iter(())
        return iter(self)

    def __getitem__(self, task_id: str) -> Task:
        return Task(f"{self.pathspec}/{task_id}", _namespace_check=False, _ds=self._ds)

    @property
    def task(self) -> Task | None:
        """A task of this step (the first one; the only one unless the step runs in a foreach)."""
        return next(iter(self), None)

    @property
    def created_at(self) -> datetime | None:
        task = self.task
        return task.created_at if task else None

    @property
    def finished_at(self) -> datetime | None:
        times = [t.finished_at for t in self]
        return None if not times or None in times else max(t for t in times if t is not None)


class Task(ClientObject):
    """One task: its artifacts, logs and metadata, for its latest completed attempt (or the one asked for)."""

    _DEPTH, _KIND = 4, "task"

    def __init__(
        self,
        pathspec: str,
        attempt: int | None = None,
        *,
        _namespace_check: bool = True,
        _ds: tuple[str, str] | None = None,
    ) -> None:
        from flowstone.client.runs import Run

        super().__init__(pathspec, _namespace_check=_namespace_check, _ds=_ds)
        self._attempt = attempt
        if _namespace_check:
            Run("/".join(self._parts[:2]), _ds=self._ds)  # checks existence and namespace
        self._datastore()  # raises FlowstoneNotFound for a task that does not exist

    @classmethod
    def _child(cls, step: Step, task_id: str) -> Task:
        task = cls.__new__(cls)
        ClientObject.__init__(task, f"{step.pathspec}/{task_id}", _ds=step._ds)
        task._attempt = None
        return task

    # -- the attempt ------------------------------------------------------------------------------
    def _datastore(self) -> TaskDataStore:
        cached: TaskDataStore | None = self.__dict__.get("_ds_cache")
        if cached is None:
            _, run_id, step, task_id = self._parts
            try:
                cached = self._fds.get_datastore_for_task(run_id, step, task_id, self._attempt, allow_not_done=True)
            except DataException as exc:
                raise self._not_found() from exc
            self.__dict__["_ds_cache"] = cached
        return cached

    def _get_datastore(self) -> TaskDataStore:
        """The task's TaskDataStore (read-only), e.g. for ``load_metadata``."""
        return self._datastore()

    @property
    def current_attempt(self) -> int:
        return self._datastore().attempt

    @functools.cached_property
    def _meta(self) -> dict[str, Any]:
        return self._datastore().load_metadata()

    # -- status -----------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once the task completed (a task that failed, or is still running, is not finished)."""
        return self._done_info is not None

    @property
    def successful(self) -> bool:
        return self.finished and bool(self._meta.get("attempt_ok", True))

    @functools.cached_property
    def _done_info(self) -> dict[str, Any] | None:
        return self._datastore().done_info()

    @property
    def finished_at(self) -> datetime | None:
        info = self._done_info
        return to_datetime(info["finished_at"]) if info else None

    @property
    def created_at(self) -> datetime | None:
        started = self._datastore().attempt_info() or self._meta  # a reused (cloned) task has no attempt marker
        return to_datetime(started.get("started_at"))

    @property
    def exception(self) -> ExceptionWrapper | None:
        """The exception that made this attempt fail (None if it did not)."""
        described = self._meta.get("exception")
        if not described:
            return None
        wrapper = ExceptionWrapper()
        wrapper.type, wrapper.exception = described["type"], described["message"]
        wrapper.stacktrace = described.get("traceback")
        return wrapper

    # -- artifacts --------------------------------------------------------------------------------
    def _artifact(self, name: str) -> DataArtifact:
        datastore = self._datastore()
        if name not in datastore:
            raise KeyError(f"Task '{self.pathspec}' has no artifact '{name}'")
        return DataArtifact(self, name, datastore.records[name])

    def __getitem__(self, name: str) -> DataArtifact:
        return self._artifact(name)

    def __contains__(self, name: object) -> bool:
        return name in self._datastore()

    def __iter__(self) -> Iterator[DataArtifact]:
        for name in sorted(self._datastore().records):
            yield self._artifact(name)

    @property
    def data(self) -> MetaflowData:
        return MetaflowData(self)

    @property
    def artifacts(self) -> MetaflowArtifacts:
        return MetaflowArtifacts(self)

    # -- logs -------------------------------------------------------------------------------------
    @property
    def stdout(self) -> str:
        return self._datastore().load_log("stdout")

    @property
    def stderr(self) -> str:
        return self._datastore().load_log("stderr")

    def loglines(self, stream: str, as_unicode: bool = True) -> Iterator[tuple[datetime | None, Any]]:
        """(time, line) pairs of a log stream, 'stdout' or 'stderr'."""
        for timestamp, line in self._datastore().load_log_lines(stream):
            yield to_datetime(timestamp), (line if as_unicode else line.encode("utf-8"))

    # -- metadata and lineage ---------------------------------------------------------------------
    @property
    def metadata(self) -> list[Metadata]:
        entries = self._datastore().metadata_entries()
        return [
            Metadata(name, e["value"], to_datetime(e["timestamp"]), type(e["value"]).__name__, self)  # type: ignore[arg-type]
            for name, e in sorted(entries.items())
        ]

    @property
    def metadata_dict(self) -> dict[str, Any]:
        return dict(self._meta)

    @property
    def index(self) -> int | None:
        stack = self._meta.get("foreach_stack") or []
        return int(stack[-1]["index"]) if stack else None

    @property
    def origin_pathspec(self) -> str | None:
        return self._meta.get("origin_pathspec")

    @property
    def parent_task_pathspecs(self) -> list[str]:
        return [f"{self._parts[0]}/{p}" for p in self._meta.get("input_paths", [])]

    @property
    def parent_tasks(self) -> Iterator[Task]:
        for pathspec in self.parent_task_pathspecs:
            yield Task(pathspec, _namespace_check=False, _ds=self._ds)

    @property
    def child_tasks(self) -> Iterator[Task]:
        run = self._run()
        graph = {s["name"]: s for s in run._run_record.get("graph", {}).get("steps", [])}
        for step_name in graph.get(self._parts[2], {}).get("next", []):
            if step_name not in run:
                continue
            for task in Step._child(run, step_name):
                if self.pathspec in task.parent_task_pathspecs:
                    yield task

    @property
    def code(self) -> MetaflowCode | None:
        return self._run().code

    @property
    def runtime_name(self) -> str:
        return "local"

    @property
    def environment_info(self) -> dict[str, Any]:
        return {"python_version": self._meta.get("python_version"), "hostname": self._meta.get("hostname")}
