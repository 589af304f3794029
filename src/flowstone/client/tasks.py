"""The Client API's steps and tasks: ``Step`` (a step of a run: its tasks) and ``Task`` (one attempt of a task:
its artifacts, logs, metadata and lineage). Artifact values load one by one, when accessed. Tasks are listed
newest first, as in Metaflow.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flowstone.client import task_metadata
from flowstone.client.artifacts import DataArtifact, MetaflowArtifacts, MetaflowData
from flowstone.client.base import ChildNotFound, ClientObject, Metadata, run_sort_key, to_datetime
from flowstone.client.code import MetaflowCode
from flowstone.client.reads import recorded_listing
from flowstone.datastore import TaskDataStore
from flowstone.errors import DataException, ExceptionWrapper

# flowstone.client.runs imports this module (a run lists its steps), so Run is imported where it is used
if TYPE_CHECKING:
    from flowstone.client.runs import Run

__all__ = ["Step", "Task"]


def _existing_run(obj: ClientObject) -> Run:
    """The run of a step or task made by pathspec; FlowstoneNotFound if the run does not exist."""
    from flowstone.client.runs import Run

    run = Run._lazy(obj._parts[0], obj._parts[1], obj._ds)
    if run._record is None:
        raise obj._not_found()
    return run


class Step(ClientObject):
    """One step of a run: its tasks."""

    _DEPTH, _KIND = 3, "step"

    def _open(self) -> None:
        run = _existing_run(self)
        if self.id not in run:
            raise self._not_found()
        self._adopt(run, run)

    def _make_parent(self) -> ClientObject:
        return self._run()

    def _task_ids(self) -> list[str]:
        """Oldest first (task ids grow as tasks are created)."""
        return sorted(self._fds.list_task_ids(self._parts[1], self.id), key=run_sort_key)

    def _task(self, task_id: str) -> Task:
        task: Task = Task._unread(f"{self.pathspec}/{task_id}", **self._child_options())
        task._adopt(self, self._run())
        return task

    def __iter__(self) -> Iterator[Task]:
        tasks = (self._task(task_id) for task_id in reversed(self._task_ids()))
        return recorded_listing("tasks", self, (), tasks)  # which task a step resolved decides its reuse

    def tasks(self, *tags: str) -> Iterator[Task]:
        """The step's tasks (newest first) that have every one of ``tags`` (a task has its run's tags)."""
        return self._filtered(iter(self), tags)

    def __getitem__(self, task_id: str) -> Task:
        if task_id not in self:
            raise ChildNotFound(f"Task '{self.pathspec}/{task_id}' does not exist (yet).")
        return self._task(task_id)

    def __contains__(self, task_id: object) -> bool:
        return isinstance(task_id, str) and task_id in self._fds.list_task_ids(self._parts[1], self.id)

    @property
    def task(self) -> Task | None:
        """A task of this step (the newest; the only one unless the step runs in a foreach)."""
        return next(iter(self), None)

    def control_tasks(self, *tags: str) -> Iterator[Task]:
        """The step's control tasks (those of a parallel step marked ``internal_task_type: control``)."""
        for task in self.tasks(*tags):
            if task.metadata_dict.get("internal_task_type") == "control":
                yield task

    @property
    def control_task(self) -> Task | None:
        return next(self.control_tasks(), None)

    @property
    def created_at(self) -> datetime | None:
        """When its first task started."""
        ids = self._task_ids()
        return self._task(ids[0]).created_at if ids else None

    @property
    def finished_at(self) -> datetime | None:
        """When its last task finished (None while one is not finished)."""
        times = [t.finished_at for t in self]
        return None if not times or None in times else max(t for t in times if t is not None)

    @property
    def environment_info(self) -> dict[str, Any] | None:
        task = self.task
        return task.environment_info if task is not None else None

    @property
    def origin_pathspec(self) -> str | None:
        """This step in the run this one resumed (None if it resumed none)."""
        origin = self._run().origin_pathspec
        return f"{origin}/{self.id}" if origin else None

    def _graph_steps(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self._run()._run_record.get("graph", {}).get("steps", [])}

    def _related(self, names: list[str]) -> Iterator[Step]:
        run = self._run()
        for name in names:
            if name in run:
                yield run._step(name)

    @property
    def parent_steps(self) -> Iterator[Step]:
        """The steps that lead to this one in the run's graph."""
        graph = self._graph_steps()
        return self._related([name for name, s in graph.items() if self.id in s.get("next", [])])

    @property
    def child_steps(self) -> Iterator[Step]:
        """The steps this one leads to in the run's graph."""
        return self._related(list(self._graph_steps().get(self.id, {}).get("next", [])))


class Task(ClientObject):
    """One task: its artifacts, logs and metadata, for its latest completed attempt (or the one asked for)."""

    _DEPTH, _KIND = 4, "task"

    def _open(self) -> None:
        self._adopt(None, _existing_run(self))
        self._datastore()  # raises FlowstoneNotFound for a task that does not exist

    def _make_parent(self) -> ClientObject:
        return Step("/".join(self._parts[:3]), _namespace_check=False, _ds=self._ds)

    # -- the attempt ------------------------------------------------------------------------------
    def _datastore(self) -> TaskDataStore:
        cached: TaskDataStore | None = self.__dict__.get("_ds_cache")
        if cached is None:
            _, run_id, step, task_id = self._parts
            try:
                cached = self._fds.get_datastore_for_task(run_id, step, task_id, self._attempt, allow_not_done=True)
            except DataException as exc:
                raise self._not_found() from exc
            if self._absent(cached):
                raise self._not_found()
            self.__dict__["_ds_cache"] = cached
        return cached

    def _absent(self, store: TaskDataStore) -> bool:
        """Whether the task does not exist. A task with no attempt recorded yet (it is starting) exists, listed
        by its step: it is not started."""
        if store.done_info() is not None or store.attempts():
            return False
        return store.task_id not in self._fds.list_task_ids(store.run_id, store.step_name)

    def _get_datastore(self) -> TaskDataStore:
        """The task's TaskDataStore (read-only), e.g. for ``load_metadata``: flowstone's own records."""
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
        """True once the task completed (with success, or with a failure @catch caught)."""
        return self._done_info is not None

    @property
    def successful(self) -> bool:
        """True if the task completed and its step did not fail (a failure @catch caught is not a success)."""
        return self.finished and bool(self._meta.get("attempt_ok", True)) and not self._meta.get("caught")

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
        """The exception that made this attempt fail (None if it did not fail, or @catch caught it)."""
        described = self._meta.get("exception")
        if not described or self._meta.get("caught"):
            return None
        wrapper = ExceptionWrapper()
        wrapper.type, wrapper.exception = described["type"], described["message"]
        wrapper.stacktrace = described.get("traceback")
        return wrapper

    @property
    def runtime_name(self) -> str | None:
        return next((tag.split(":", 1)[1] for tag in self.system_tags if tag.startswith("runtime:")), None)

    # -- artifacts --------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> DataArtifact:
        if name not in self._datastore():
            raise ChildNotFound(f"Task '{self.pathspec}' has no artifact '{name}'")
        return DataArtifact._of_task(self, name)

    def __contains__(self, name: object) -> bool:
        return name in self._datastore()

    def __iter__(self) -> Iterator[DataArtifact]:
        """The task's artifacts (not the private ones, whose names start with '_')."""
        for name in sorted(self._datastore().records):
            if not name.startswith("_"):
                yield DataArtifact._of_task(self, name)

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

    @property
    def stdout_size(self) -> int:
        return len(self.stdout.encode("utf-8"))

    @property
    def stderr_size(self) -> int:
        return len(self.stderr.encode("utf-8"))

    def loglines(self, stream: str, as_unicode: bool = True,
                 meta_dict: dict[str, Any] | None = None) -> Iterator[tuple[datetime | None, Any]]:  # fmt: skip
        """(time, line) pairs of a log stream, 'stdout' or 'stderr'; the time is a naive UTC datetime, as in
        Metaflow (when the runner received the line)."""
        for timestamp, line in self._datastore().load_log_lines(stream):
            when = None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
            yield when, (line if as_unicode else line.encode("utf-8"))

    # -- metadata and lineage ---------------------------------------------------------------------
    @property
    def metadata(self) -> list[Metadata]:
        """Metaflow's metadata of the task: every attempt's entries (only the one asked for, if one was)."""
        return task_metadata.entries(self)

    @property
    def metadata_dict(self) -> dict[str, Any]:
        """The newest value of each metadata entry."""
        return {m.name: m.value for m in sorted(self.metadata, key=lambda m: m.created_at)}

    @property
    def index(self) -> int | None:
        stack = self._meta.get("foreach_stack") or []
        return int(stack[-1]["index"]) if stack else None

    @property
    def origin_pathspec(self) -> str | None:
        """The task this one reuses the results of (resume, or the cache), or None if it ran."""
        return self._meta.get("origin_pathspec")

    @property
    def parent_task_pathspecs(self) -> Iterator[str]:
        for path in self._meta.get("input_paths", []):
            yield f"{self._parts[0]}/{path}"

    @property
    def parent_tasks(self) -> Iterator[Task]:
        for pathspec in self.parent_task_pathspecs:
            yield Task(pathspec, _namespace_check=False, _ds=self._ds)

    @property
    def child_task_pathspecs(self) -> Iterator[str]:
        run = self._run()
        graph = {s["name"]: s for s in run._run_record.get("graph", {}).get("steps", [])}
        for step_name in graph.get(self._parts[2], {}).get("next", []):
            if step_name in run:
                for task in reversed(list(run._step(step_name))):
                    if self.pathspec in task.parent_task_pathspecs:
                        yield task.pathspec

    @property
    def child_tasks(self) -> Iterator[Task]:
        for pathspec in self.child_task_pathspecs:
            yield Task(pathspec, _namespace_check=False, _ds=self._ds)

    @property
    def code(self) -> MetaflowCode | None:
        return self._run().code

    @property
    def environment_info(self) -> dict[str, Any]:
        return {"python_version": self._meta.get("python_version"), "hostname": self._meta.get("hostname")}
