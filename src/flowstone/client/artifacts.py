"""Artifacts in the Client API: ``DataArtifact`` (one artifact, its value loaded on demand) and the ``data`` /
``artifacts`` views of a task (attribute access by name)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowstone.datastore import ArtifactRecord

if TYPE_CHECKING:
    from flowstone.client.tasks import Task

__all__ = ["DataArtifact", "MetaflowArtifacts", "MetaflowData"]


class DataArtifact:
    """One artifact of a task. ``data`` loads (and verifies) its value the first time it is read."""

    def __init__(self, task: Task, name: str, record: ArtifactRecord) -> None:
        self._task = task
        self._record = record
        self.id = name

    @property
    def pathspec(self) -> str:
        return f"{self._task.pathspec}/{self.id}"

    @property
    def data(self) -> Any:
        cache = self._task.__dict__.setdefault("_values", {})
        if self.id not in cache:
            cache[self.id] = self._task._datastore()[self.id]
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
        return self._task.created_at

    @property
    def finished_at(self) -> datetime | None:
        return self._task.finished_at

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}')"


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

    def __contains__(self, name: object) -> bool:
        return name in self._task

    def __iter__(self) -> Any:
        return iter(self._names())

    def __dir__(self) -> list[str]:
        return self._names()

    def __repr__(self) -> str:
        return f"<MetaflowData: {', '.join(self._names())}>"


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

    def __repr__(self) -> str:
        return f"<MetaflowArtifacts: {', '.join(a.id for a in self._task)}>"
