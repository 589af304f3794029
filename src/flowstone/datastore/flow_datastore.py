"""The datastore of one flow: its task datastores, over the content-addressed store shared by all flows."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from flowstone.datastore import layout
from flowstone.datastore.content_addressed import BLOB_PREFIX, ContentAddressedStore
from flowstone.datastore.records import dump_record, load_record
from flowstone.datastore.run_tags import RunTagLog
from flowstone.datastore.serializers import SerializerRegistry, default_registry
from flowstone.datastore.task_datastore import TaskDataStore
from flowstone.errors import DataException, TaskNotDone
from flowstone.settings import Settings
from flowstone.storage import Storage, make_storage

__all__ = ["FlowDataStore"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FlowDataStore:
    """Entry point to everything stored for one flow."""

    def __init__(
        self,
        flow_name: str,
        storage: Storage | None = None,
        settings: Settings | None = None,
        ds_type: str | None = None,
        ds_root: str | None = None,
        serializers: SerializerRegistry | None = None,
    ) -> None:
        if not _NAME.match(flow_name) or flow_name == BLOB_PREFIX:
            raise DataException(
                f"'{flow_name}' cannot be a flow name: use a Python identifier other than '{BLOB_PREFIX}'."
            )
        self.flow_name = flow_name
        self.settings = settings if settings is not None else Settings()  # the caller reads the environment
        self.storage = storage or make_storage(ds_type or self.settings.default_datastore, self.settings, ds_root)
        self.ca_store = ContentAddressedStore(self.storage, BLOB_PREFIX, self.settings.compress_ratio_threshold,
                                              self.settings.blob_claim_after_seconds)  # fmt: skip
        self.serializers = serializers or default_registry()

    def __reduce__(self) -> tuple[Any, ...]:
        # travels to task processes; a process-wide registry is not copied (the receiving process has its own)
        registry = None if self.serializers is default_registry() else self.serializers
        return FlowDataStore, (self.flow_name, self.storage, self.settings, None, None, registry)

    @property
    def TYPE(self) -> str:
        return self.storage.TYPE

    @property
    def datastore_root(self) -> str:
        return self.storage.root

    def __repr__(self) -> str:
        return f"FlowDataStore({self.flow_name!r}, {self.storage!r})"

    # -- listing ----------------------------------------------------------------------------------
    def list_run_ids(self) -> list[str]:
        """Ids of the flow's runs (names starting with '_' hold flow-wide records such as the cache index)."""
        entries = self.storage.list_content(self.flow_name)
        return [e.name for e in entries if not e.is_file and not e.name.startswith("_")]

    def list_steps(self, run_id: str) -> list[str]:
        prefix = layout.run_prefix(self.flow_name, run_id)
        return [e.name for e in self.storage.list_content(prefix) if not e.is_file and not e.name.startswith("_")]

    def list_task_ids(self, run_id: str, step_name: str) -> list[str]:
        prefix = layout.step_prefix(self.flow_name, run_id, step_name)
        return [e.name for e in self.storage.list_content(prefix) if not e.is_file]

    # -- run records ------------------------------------------------------------------------------
    def _run_key(self, run_id: str, name: str) -> str:
        return f"{layout.run_prefix(self.flow_name, run_id)}/{name}"

    def create_run(self, record: dict[str, Any], run_id: str | None = None) -> str:
        """Write a new run's record and return its id: a microsecond timestamp, unique in this datastore.

        The record is written with put-if-absent, so two runs starting at once never share an id.
        """
        if run_id is not None:
            if not self.storage.put_if_absent(self._run_key(run_id, layout.RUN_RECORD), dump_record(record)):
                raise DataException(f"Run {self.flow_name}/{run_id} already exists; choose another run id.")
            return run_id
        candidate = time.time_ns() // 1000
        while True:
            run_id = str(candidate)
            payload = dump_record({**record, "run_id": run_id})
            if self.storage.put_if_absent(self._run_key(run_id, layout.RUN_RECORD), payload):
                self.storage.sync()
                return run_id
            candidate += 1

    def load_run_record(self, run_id: str) -> dict[str, Any] | None:
        return self._load_run_json(run_id, layout.RUN_RECORD)

    def _tag_log(self, run_id: str) -> RunTagLog:
        return RunTagLog(self.storage, layout.run_prefix(self.flow_name, run_id))

    def save_run_tags(self, run_id: str, tags: Iterable[str]) -> None:
        """Record the user tags a new run starts with (later changes go through ``change_run_tags``)."""
        self._tag_log(run_id).save_initial(tags)

    def load_run_tags(self, run_id: str) -> list[str]:
        """The run's user tags now, sorted."""
        return sorted(self._tag_log(run_id).current())

    def change_run_tags(self, run_id: str, remove: Iterable[str], add: Iterable[str]) -> list[str]:
        """Remove, then add user tags, atomically even while other processes change them; return the tags right
        after this change, sorted."""
        return sorted(self._tag_log(run_id).change(remove, add))

    def save_run_end(self, run_id: str, outcome: dict[str, Any]) -> None:
        self.storage.save_one(self._run_key(run_id, layout.RUN_END), dump_record(outcome))

    def load_run_end(self, run_id: str) -> dict[str, Any] | None:
        return self._load_run_json(run_id, layout.RUN_END)

    def _load_run_json(self, run_id: str, name: str) -> Any:
        key = self._run_key(run_id, name)
        data = self.storage.load_one(key)
        return None if data is None else load_record(data, key)

    # -- the cache index ----------------------------------------------------------------------------
    def save_cache_entry(self, key: str, entry: dict[str, Any]) -> None:
        """Remember which task produced the results for cache key ``key`` (a later entry replaces it)."""
        self.storage.save_one(layout.cache_entry_key(self.flow_name, key), dump_record(entry))

    def load_cache_entry(self, key: str) -> dict[str, Any] | None:
        path = layout.cache_entry_key(self.flow_name, key)
        data = self.storage.load_one(path)
        return None if data is None else load_record(data, path)

    # -- task datastores --------------------------------------------------------------------------
    def get_datastore_for_task(
        self,
        run_id: str,
        step_name: str,
        task_id: str,
        attempt: int | None = None,
        mode: str = "r",
        allow_not_done: bool = False,
    ) -> TaskDataStore:
        return TaskDataStore(self, run_id, step_name, task_id, attempt, mode, allow_not_done)

    def get_task_datastores(
        self,
        run_id: str | None = None,
        steps: Iterable[str] | None = None,
        pathspecs: Iterable[str] | None = None,
        allow_not_done: bool = False,
        attempt: int | None = None,
        mode: str = "r",
    ) -> list[TaskDataStore]:
        """Task datastores selected by ``run_id`` (and ``steps``) or by ``"run/step/task"`` pathspecs.

        Tasks without a completed attempt are skipped unless ``allow_not_done``.
        """
        if pathspecs is not None:
            triples = [self._split_pathspec(p) for p in pathspecs]
        elif run_id is not None:
            step_names = list(steps) if steps is not None else self.list_steps(run_id)
            triples = [(run_id, s, t) for s in step_names for t in self.list_task_ids(run_id, s)]
        else:
            raise DataException("get_task_datastores needs run_id or pathspecs.")
        found = []
        for run, step, task in triples:
            try:
                found.append(TaskDataStore(self, run, step, task, attempt, mode, allow_not_done))
            except TaskNotDone:
                if pathspecs is not None and allow_not_done:
                    raise
        return found

    def _split_pathspec(self, pathspec: str) -> tuple[str, str, str]:
        parts = pathspec.strip("/").split("/")
        if len(parts) == 4 and parts[0] == self.flow_name:
            parts = parts[1:]
        if len(parts) != 3:
            raise DataException(f"'{pathspec}' is not a task pathspec: expected 'run_id/step_name/task_id'.")
        return parts[0], parts[1], parts[2]
