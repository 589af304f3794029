"""The Client API's flows and runs: ``Metaflow`` (every flow), ``Flow`` (its runs) and ``Run`` (a run's record,
tags, steps and outcome). Steps and tasks are in :mod:`flowstone.client.tasks`.

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
from flowstone.client.artifacts import MetaflowData
from flowstone.client.base import ClientObject, run_sort_key, to_datetime
from flowstone.client.code import MetaflowCode
from flowstone.client.tasks import Step, Task
from flowstone.errors import FlowstoneException, FlowstoneNotFound

__all__ = ["Flow", "Metaflow", "Run"]


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
