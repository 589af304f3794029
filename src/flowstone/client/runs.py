"""The Client API's flows and runs: ``Metaflow`` (every flow), ``Flow`` (its runs) and ``Run`` (a run's record,
tags, steps and outcome). Steps and tasks are in :mod:`flowstone.client.tasks`.

Objects are addressed by pathspec (``Flow/run_id/step/task_id``). Nothing is read until asked for: listing runs
reads run records only, listing tasks reads task listings only, and artifact values are loaded one by one when
accessed. Objects pickle as their pathspec and the datastore they came from. As in Metaflow, children are listed
newest first: runs by id, a run's steps from the end of its graph back to its start.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flowstone import reads
from flowstone.client import context
from flowstone.client.artifacts import MetaflowData
from flowstone.client.base import ChildNotFound, ClientObject, run_sort_key, to_datetime
from flowstone.client.code import MetaflowCode
from flowstone.client.reads import record_answer, recorded_listing
from flowstone.client.tags import as_tag_list, change_user_tags
from flowstone.client.tasks import Step, Task
from flowstone.datastore.run_status import RunState, graph_endpoints, run_state
from flowstone.errors import FlowstoneNamespaceMismatch, FlowstoneNotFound

__all__ = ["Flow", "Metaflow", "Run"]


class Metaflow:
    """The root of the Client API: the flows with a run in the current namespace."""

    @property
    def flows(self) -> list[Flow]:
        return list(self)

    def __iter__(self) -> Iterator[Flow]:
        for entry in context.root_storage().list_content(""):
            if entry.is_file or entry.name == "data" or entry.name.startswith("."):
                continue
            try:
                yield Flow(entry.name)
            except FlowstoneNamespaceMismatch:
                continue

    def __getitem__(self, name: str) -> Flow:
        return Flow(name)

    def __repr__(self) -> str:
        return "Metaflow()"


class Flow(ClientObject):
    """A flow: its runs, newest first, in the current namespace. A flow has no tags of its own."""

    _DEPTH, _KIND = 1, "flow"

    def _open(self) -> None:
        if not self._fds.storage.list_content(self.id):
            raise self._not_found()

    @property
    def tags(self) -> frozenset[str]:
        return frozenset()

    user_tags = system_tags = tags

    def _is_in_namespace(self, ns: str | None) -> bool:
        return ns is None or any(run._has_tags((ns,)) for run in self._all_runs())

    def _all_runs(self) -> Iterator[Run]:
        for run_id in sorted(self._fds.list_run_ids(), key=run_sort_key, reverse=True):
            run = Run._lazy(self.id, run_id, self._ds, **self._child_options())
            run._adopt(self, None)
            if run._record is not None:  # a run whose record is not written yet is not a run yet
                yield run

    def __iter__(self) -> Iterator[Run]:
        return self.runs()

    def runs(self, *tags: str) -> Iterator[Run]:
        """Runs newest first, in the current namespace, having every one of ``tags``."""
        wanted = (self._current_namespace,) if self._namespace_check and self._current_namespace else ()
        runs = (run for run in self._all_runs() if run._has_tags(wanted) and run._has_tags(tags))
        return recorded_listing("runs", self, tags, runs)  # what a step listed decides whether it is reused

    def __getitem__(self, run_id: str) -> Run:
        try:
            run = Run(f"{self.id}/{run_id}", **self._child_options())
        except FlowstoneNotFound as exc:
            raise ChildNotFound(str(exc)) from None
        run._adopt(self, None)
        return run

    def __contains__(self, run_id: object) -> bool:
        return isinstance(run_id, str) and "/" not in run_id and self._fds.load_run_record(run_id) is not None

    @property
    def latest_run(self) -> Run | None:
        with reads.paused():  # the answer is what a step depends on, not the listing that found it
            run = next(iter(self), None)
        record_answer("latest_run", self, run.id if run is not None else None)
        return run

    @property
    def latest_successful_run(self) -> Run | None:
        with reads.paused():
            run = next((run for run in self if run.successful), None)
        record_answer("latest_successful_run", self, run.id if run is not None else None)
        return run

    @property
    def created_at(self) -> datetime | None:
        """When its first run started."""
        for run_id in sorted(self._fds.list_run_ids(), key=run_sort_key):
            record = self._fds.load_run_record(run_id)
            if record is not None:
                return to_datetime(record["created_at"])
        return None

    @property
    def origin_pathspec(self) -> str | None:
        return None


class Run(ClientObject):
    """One run of a flow. Its user tags are read once and then kept, updated by the changes made through it."""

    _DEPTH, _KIND = 2, "run"

    def _open(self) -> None:
        if self._record is None:
            raise self._not_found()

    @classmethod
    def _lazy(cls, flow_name: str, run_id: str, ds: tuple[str, str], **options: Any) -> Run:
        """A Run read only when asked (its existence and namespace are not checked)."""
        run: Run = cls._unread(f"{flow_name}/{run_id}", **{"_namespace_check": False, **options, "_ds": ds})
        return run

    def _run(self) -> Run:
        return self

    def _make_parent(self) -> ClientObject:
        return Flow(self._parts[0], _namespace_check=False, _ds=self._ds)

    def _has_tags(self, tags: Iterable[str]) -> bool:
        wanted = set(tags)
        return wanted <= self.system_tags or wanted <= self.tags  # user tags are read only when needed

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
        if "_user_tags" not in self.__dict__:
            self.__dict__["_user_tags"] = frozenset(self._fds.load_run_tags(self.id))
        tags: frozenset[str] = self.__dict__["_user_tags"]
        return tags

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

    @property
    def origin_pathspec(self) -> str | None:
        """The run this one resumed (None if it resumed none)."""
        origin = self.origin_run_id
        return f"{self._parts[0]}/{origin}" if origin else None

    @property
    def _graph_endpoints(self) -> tuple[str, str]:
        """(start step, end step) of the run's graph, as recorded when it started."""
        return graph_endpoints(self._run_record)

    @property
    def trigger(self) -> None:
        """The events that triggered the run: flowstone runs are started by hand, so None."""
        return None

    # -- steps ------------------------------------------------------------------------------------
    def _step_names(self) -> list[str]:
        """Present steps in graph order (steps not in the recorded graph last)."""
        present = set(self._fds.list_steps(self.id))
        ordered = [s["name"] for s in self._run_record.get("graph", {}).get("steps", []) if s["name"] in present]
        return ordered + sorted(present - set(ordered))

    def _step(self, step_name: str) -> Step:
        step: Step = Step._unread(f"{self.pathspec}/{step_name}", **self._child_options())
        step._adopt(self, self)
        return step

    def __iter__(self) -> Iterator[Step]:
        for name in reversed(self._step_names()):
            yield self._step(name)

    def steps(self, *tags: str) -> Iterator[Step]:
        """The run's steps (newest first) if the run has every one of ``tags``."""
        return self._filtered(iter(self), tags)

    def __getitem__(self, step_name: str) -> Step:
        if step_name not in self:
            raise ChildNotFound(f"Step '{self.pathspec}/{step_name}' does not exist (yet).")
        return self._step(step_name)

    def __contains__(self, step_name: object) -> bool:
        return isinstance(step_name, str) and step_name in self._fds.list_steps(self.id)

    # -- outcome ----------------------------------------------------------------------------------
    @property
    def end_task(self) -> Task | None:
        """The task of the run's end step (None until it has started)."""
        _, end = self._graph_endpoints
        return self[end].task if end in self else None

    @property
    def data(self) -> MetaflowData | None:
        """Artifacts of the end step (None until it has run)."""
        end = self.end_task
        return end.data if end is not None else None

    @property
    def successful(self) -> bool:
        """True if the run succeeded (as ``status`` says)."""
        return self.status == "succeeded"

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
        """'running', 'succeeded', 'failed', or 'interrupted' (its runner, on this machine, is gone): see
        :func:`flowstone.datastore.run_status.run_state`."""
        return self._state.status

    @property
    def _state(self) -> RunState:
        """How the run stands now, and when it ended (read afresh each time: a running run changes)."""
        return run_state(self._fds, self.id, self._run_record)

    @property
    def code(self) -> MetaflowCode | None:
        key = self._run_record.get("code_package")
        return MetaflowCode(self._fds, key, self._run_record.get("flow_file", "")) if key else None

    # -- tags -------------------------------------------------------------------------------------
    def add_tag(self, tag: str) -> None:
        """Add a user tag (a tag that is already a system tag is left out, silently)."""
        self.replace_tag([], tag)  # type: ignore[arg-type]

    def add_tags(self, tags: Iterable[str]) -> None:
        self.replace_tag([], tags)  # type: ignore[arg-type]

    def remove_tag(self, tag: str) -> None:
        """Remove a user tag (removing one the run does not have does nothing; a system tag, an error)."""
        self.replace_tag(tag, [])  # type: ignore[arg-type]

    def remove_tags(self, tags: Iterable[str]) -> None:
        self.replace_tags(tags, [])

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        """Remove one tag and add another, atomically (removal first)."""
        self.replace_tags(as_tag_list(tag_to_remove), as_tag_list(tag_to_add))

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        """Remove and add user tags in one atomic change (removal first)."""
        self.__dict__["_user_tags"] = change_user_tags(self._fds, self.id, self.system_tags, tags_to_remove,
                                                       tags_to_add)  # fmt: skip
