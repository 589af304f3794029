"""The Client API: ``Metaflow``, ``Flow``, ``Run``, ``Step``, ``Task``: read-only views over the datastore.

Objects are addressed by pathspec (``Flow/run_id/step/task_id``). Nothing is read until asked for: listing runs
reads run records only, listing tasks reads task listings only, and artifact values are loaded one by one when
accessed. Objects pickle as their pathspec and the datastore they came from.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flowstone.client import context
from flowstone.client.artifacts import DataArtifact, MetaflowArtifacts, MetaflowData
from flowstone.client.base import ClientObject, Metadata, run_sort_key, to_datetime
from flowstone.client.code import MetaflowCode
from flowstone.datastore import TaskDataStore
from flowstone.errors import (
    DataException,
    ExceptionWrapper,
    FlowstoneException,
    FlowstoneNotFound,
)

__all__ = ["Flow", "Metadata", "Metaflow", "Run", "Step", "Task"]


class Metaflow:
    """The root of the Client API: every flow in the datastore."""

    @property
    def flows(self) -> list[Flow]:
        return list(self)

    def __iter__(self) -> Iterator[Flow]:
        for entry in context.root_storage().list_content(""):
            if not entry.is_file and entry.name != "data" and not entry.name.startswith("."):
                yield Flow(entry.name)

    def __repr__(self) -> str:
        return "Metaflow()"


class Flow(ClientObject):
    """A flow: its runs, newest first, in the current namespace."""

    _DEPTH, _KIND = 1, "flow"

    def __init__(self, pathspec: str, *, _namespace_check: bool = True, _ds: tuple[str, str] | None = None) -> None:
        super().__init__(pathspec, _namespace_check=_namespace_check, _ds=_ds)
        if not self._fds.storage.list_content(self.id):
            raise self._not_found()

    def _run_ids(self) -> list[str]:
        return sorted(self._fds.list_run_ids(), key=run_sort_key, reverse=True)

    def __iter__(self) -> Iterator[Run]:
        return self.runs()

    def runs(self, *tags: str) -> Iterator[Run]:
        """Runs newest first, in the current namespace, having every one of ``tags``."""
        for run_id in self._run_ids():
            run = Run._lazy(self.id, run_id, self._ds)
            if run._visible(tags):
                yield run

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}", _ds=self._ds)

    def __contains__(self, run_id: object) -> bool:
        return isinstance(run_id, str) and self._fds.load_run_record(run_id) is not None

    @property
    def latest_run(self) -> Run | None:
        return next(self.runs(), None)

    @property
    def latest_successful_run(self) -> Run | None:
        return next((run for run in self.runs() if run.successful), None)


class Run(ClientObject):
    """One run of a flow."""

    _DEPTH, _KIND = 2, "run"

    def __init__(self, pathspec: str, *, _namespace_check: bool = True, _ds: tuple[str, str] | None = None) -> None:
        super().__init__(pathspec, _namespace_check=_namespace_check, _ds=_ds)
        if self._record is None:
            raise self._not_found()
        if self._namespace_check and not self._visible(()):
            self._check_namespace(self.tags)

    @classmethod
    def _lazy(cls, flow_name: str, run_id: str, ds: tuple[str, str]) -> Run:
        run = cls.__new__(cls)
        ClientObject.__init__(run, f"{flow_name}/{run_id}", _ds=ds)
        return run

    def _visible(self, tags: Iterable[str]) -> bool:
        record = self._record
        if record is None:
            return False  # a run whose record is not written yet: not a run yet
        wanted = set(tags)
        ns = context.get_namespace()
        if ns is not None:
            wanted.add(ns)
        system = set(record.get("system_tags", []))
        return wanted <= system or wanted <= system | set(self.user_tags)

    # -- records ----------------------------------------------------------------------------------
    @functools.cached_property
    def _record(self) -> dict[str, Any] | None:
        return self._fds.load_run_record(self.id)

    @property
    def _run_record(self) -> dict[str, Any]:
        record = self._record
        if record is None:
            raise self._not_found()
        return record

    @property
    def created_at(self) -> datetime:
        return to_datetime(self._run_record["created_at"])  # type: ignore[return-value]

    @property
    def system_tags(self) -> frozenset[str]:
        return frozenset(self._run_record.get("system_tags", []))

    @property
    def user_tags(self) -> frozenset[str]:
        return frozenset(self._fds.load_run_tags(self.id) or [])

    @property
    def tags(self) -> frozenset[str]:
        return self.system_tags | self.user_tags

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameter values of the run, as recorded when it started."""
        return dict(self._run_record.get("parameters", {}))

    @property
    def origin_run_id(self) -> str | None:
        return self._run_record.get("origin_run_id")

    # -- steps ------------------------------------------------------------------------------------
    def _step_names(self) -> list[str]:
        present = set(self._fds.list_steps(self.id))
        ordered = [s["name"] for s in self._run_record.get("graph", {}).get("steps", []) if s["name"] in present]
        return ordered + sorted(present - set(ordered))

    def __iter__(self) -> Iterator[Step]:
        for name in self._step_names():
            yield Step._child(self, name)

    def __getitem__(self, step_name: str) -> Step:
        if step_name not in self._fds.list_steps(self.id):
            raise FlowstoneNotFound(f"Step '{self.pathspec}/{step_name}' does not exist (yet).")
        return Step._child(self, step_name)

    def __contains__(self, step_name: object) -> bool:
        return isinstance(step_name, str) and step_name in self._fds.list_steps(self.id)

    @property
    def steps(self) -> list[Step]:
        return list(self)

    # -- outcome ----------------------------------------------------------------------------------
    @property
    def end_task(self) -> Task | None:
        if "end" not in self:
            return None
        return next(iter(self["end"]), None)

    @property
    def data(self) -> MetaflowData | None:
        """Artifacts of the 'end' step (None until it has run)."""
        end = self.end_task
        return end.data if end is not None else None

    @property
    def successful(self) -> bool:
        end = self.end_task
        return end is not None and end.successful

    @property
    def finished(self) -> bool:
        end = self.end_task
        return end is not None and end.finished

    @property
    def finished_at(self) -> datetime | None:
        end = self.end_task
        return end.finished_at if end is not None else None

    @property
    def status(self) -> str:
        """'running', 'succeeded', 'failed', or 'interrupted' (its runner, on this machine, is gone)."""
        outcome = self._fds.load_run_end(self.id)
        if outcome:
            return str(outcome["status"])
        runner = self._run_record.get("runner") or {}
        if runner.get("host") == os.uname().nodename and not _process_alive(int(runner.get("pid", 0))):
            return "interrupted"
        return "running"

    @property
    def code(self) -> MetaflowCode | None:
        key = self._run_record.get("code_package")
        return MetaflowCode(self._fds, key, self._run_record.get("flow_file", "")) if key else None

    # -- tags -------------------------------------------------------------------------------------
    def add_tag(self, tag: str) -> None:
        self.add_tags([tag])

    def add_tags(self, tags: Iterable[str]) -> None:
        self.replace_tags([], tags)

    def remove_tag(self, tag: str) -> None:
        self.remove_tags([tag])

    def remove_tags(self, tags: Iterable[str]) -> None:
        self.replace_tags(tags, [])

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        self.replace_tags([tag_to_remove], [tag_to_add])

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        """Remove and add user tags in one update (system tags cannot be changed)."""
        remove, add = set(tags_to_remove), set(tags_to_add)
        for tag in remove | add:
            _validate_tag(tag)
        protected = remove & self.system_tags
        if protected:
            raise FlowstoneException(f"System tags cannot be removed: {', '.join(sorted(protected))}.")
        self._fds.save_run_tags(self.id, (set(self.user_tags) - remove) | add)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _validate_tag(tag: str) -> None:
    if not isinstance(tag, str) or not tag.strip() or len(tag) > 512:
        raise FlowstoneException(f"Invalid tag {tag!r}: a tag is a non-empty string of at most 512 characters.")


class Step(ClientObject):
    """One step of a run: its tasks."""

    _DEPTH, _KIND = 3, "step"

    def __init__(self, pathspec: str, *, _namespace_check: bool = True, _ds: tuple[str, str] | None = None) -> None:
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
