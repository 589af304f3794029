"""Artifacts in the Client API: ``DataArtifact`` (one artifact, its value loaded on demand) and the ``data`` /
``artifacts`` views of a task (attribute access by name)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowstone.client.base import ClientObject
from flowstone.client.reads import record_artifact
from flowstone.datastore import ArtifactRecord

if TYPE_CHECKING:
    from flowstone.client.tasks import Task

__all__ = ["DataArtifact", "MetaflowArtifacts", "MetaflowData"]


class DataArtifact(ClientObject):
    """One artifact of a task. ``data`` loads (and verifies) its value the first time it is read."""

    _DEPTH, _KIND = 5, "artifact"

    def _open(self) -> None:
        task = self._make_parent()
        if self.id not in task:
            raise self._not_found()
        self._adopt(task, task._run())

    @classmethod
    def _of_task(cls, task: Task, name: str) -> DataArtifact:
        artifact: DataArtifact = cls._unread(f"{task.pathspec}/{name}", task._attempt, **task._child_options())
        artifact._adopt(task, task._run())
        return artifact

    def _make_parent(self) -> Task:
        from flowstone.client.tasks import Task

        return Task("/".join(self._parts[:4]), self._attempt, _namespace_check=False, _ds=self._ds)

    @property
    def _task(self) -> Task:
        return self.parent  # type: ignore[return-value]

    @property
    def _record(self) -> ArtifactRecord:
        return self._task._datastore().records[self.id]

    @property
    def data(self) -> Any:
        cache = self._task.__dict__.setdefault("_values", {})
        if self.id not in cache:
            cache[self.id] = self._task._datastore()[self.id]
        record_artifact(self, self._record.key)  # a step's input, if a step loads it
        return cache[self.id]

    @property
    def sha(self) -> str:
        """The content hash (BLAKE3) of the serialized value: equal values have equal hashes."""
        return self._record.key

    @property
    def size(self) -> int:
        return self._record.size

    @property
    def type(self) -> str:
        return self._record.type

    @property
    def serializer(self) -> str:
        return self._record.serializer

    @property
    def created_at(self) -> datetime | None:
        """When the task stored it (when the task finished)."""
        return self._task.finished_at or self._task.created_at

    @property
    def finished_at(self) -> datetime | None:
        """The same as ``created_at``, as in Metaflow."""
        return self.created_at

    @property
    def origin_pathspec(self) -> str | None:
        origin = self._task.origin_pathspec
        return f"{origin}/{self.id}" if origin else None


class MetaflowData:
    """Artifact values of a task by attribute: ``task.data.model``. Private names are left out."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def _names(self) -> list[str]:
        return sorted(n for n in self._task._datastore().records if not n.startswith("_"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._task[name].data
        except KeyError:
            raise AttributeError(f"Task '{self._task.pathspec}' has no artifact '{name}'") from None

    def __str__(self) -> str:
        return f"<MetaflowData: {', '.join(self._names())}>"

    def __contains__(self, name: object) -> bool:
        return name in self._task

    def __iter__(self) -> Any:
        return iter(self._names())

    def __dir__(self) -> list[str]:
        return self._names()

    __repr__ = __str__


class MetaflowArtifacts:
    """``DataArtifact`` objects of a task by attribute: ``task.artifacts.model.sha``."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def __getattr__(self, name: str) -> DataArtifact:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._task[name]
        except KeyError:
            raise AttributeError(f"Task '{self._task.pathspec}' has no artifact '{name}'") from None

    def __iter__(self) -> Any:
        return iter(self._task)

    def __len__(self) -> int:
        return sum(1 for _ in self._task)

    def __repr__(self) -> str:
        return f"<MetaflowArtifacts: {', '.join(a.id for a in self._task)}>"
