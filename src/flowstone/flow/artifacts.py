"""What a running step can read: its parents' artifacts (loaded on first access), a join's inputs, foreach frames."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from flowstone.datastore import ArtifactRecord, TaskDataStore
from flowstone.errors import FlowstoneException

__all__ = ["PARALLEL_VAR", "ArtifactSource", "ForeachFrame", "InputView", "Inputs", "count_items", "frame_input",
           "item_at"]  # fmt: skip

#: The foreach variable of the tasks of a @parallel step: their "items" are their node indexes (Metaflow's name).
PARALLEL_VAR = "_parallel_ubf_iter"


class ForeachFrame(NamedTuple):
    """One level of foreach: the split step, the artifact it iterates over, and this branch's place in it."""

    step: str
    var: str
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    num_splits: int

    @property
    def is_parallel(self) -> bool:
        """Whether the frame is that of a @parallel step's task rather than of a foreach."""
        return self.var == PARALLEL_VAR

    def to_json(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ForeachFrame:
        return cls(data["step"], data["var"], int(data["index"]), int(data["num_splits"]))


def item_at(values: Any, index: int) -> Any:
    """The ``index``-th item of what a foreach iterates over (sequences are indexed, other iterables walked)."""
    if isinstance(values, Sequence) or hasattr(values, "__array__"):
        return values[index]
    return next(itertools.islice(iter(values), index, None))


def frame_input(owner: Any, frame: ForeachFrame) -> Any:
    """The item a branch of ``frame`` processes, read from ``owner`` (a flow or a join's input); for a @parallel
    task, its node index."""
    if frame.is_parallel:
        return frame.index
    return item_at(getattr(owner, frame.var), frame.index)


def count_items(values: Any) -> int:
    try:
        return len(values)
    except TypeError:
        return sum(1 for _ in values)


class ArtifactSource:
    """Artifacts readable by name, each from the task datastore that holds it; values load on demand."""

    def __init__(self, entries: dict[str, tuple[TaskDataStore, ArtifactRecord]] | None = None) -> None:
        self._entries = dict(entries or {})

    @classmethod
    def of_task(cls, datastore: TaskDataStore, names: Sequence[str] | None = None) -> ArtifactSource:
        records = datastore.records
        chosen = records if names is None else [n for n in names if n in records]
        return cls({name: (datastore, records[name]) for name in chosen})

    def add(self, name: str, datastore: TaskDataStore) -> None:
        self._entries[name] = (datastore, datastore.record(name))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def record(self, name: str) -> ArtifactRecord:
        return self._entries[name][1]

    def load(self, name: str) -> Any:
        datastore, _ = self._entries[name]
        return datastore[name]


class InputView:
    """One input of a join step: that parent task's artifacts, read-only and loaded on first access."""

    def __init__(self, datastore: TaskDataStore, foreach_frame: ForeachFrame | None = None) -> None:
        object.__setattr__(self, "_datastore", datastore)
        object.__setattr__(self, "_frame", foreach_frame)
        object.__setattr__(self, "_cache", {})

    @property
    def step_name(self) -> str:
        return self._datastore.step_name

    @property
    def pathspec(self) -> str:
        return self._datastore.pathspec

    @property
    def index(self) -> int | None:
        return self._frame.index if self._frame else None

    @property
    def input(self) -> Any:
        if self._frame is None:
            return None
        return frame_input(self, self._frame)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        cache = self._cache
        if name not in cache:
            if name not in self._datastore:
                raise AttributeError(f"Step '{self.step_name}' ({self.pathspec}) has no artifact '{name}'.")
            cache[name] = self._datastore[name]
        return cache[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"The inputs of a join are read-only; set self.{name} on the join step instead.")

    def __getstate__(self) -> Any:
        raise FlowstoneException(_NOT_STORABLE)

    def __repr__(self) -> str:
        return f"<input {self.pathspec}>"


_NOT_STORABLE = (
    "Flows can't be serialized: a flow (self) or a join's inputs cannot be stored as an artifact. "
    "Maybe you tried to assign self or one of the inputs to an attribute? Store the values you need instead."
)


class Inputs:
    """The inputs of a join step: iterate them, index them, or name a branch (``inputs.train``)."""

    def __init__(self, views: list[InputView]) -> None:
        self._views = views

    def __iter__(self) -> Iterator[InputView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, index: int) -> InputView:
        return self._views[index]

    def __getattr__(self, name: str) -> InputView:
        if name.startswith("_"):
            raise AttributeError(name)
        for view in self._views:
            if view.step_name == name:
                return view
        names = ", ".join(sorted({v.step_name for v in self._views}))
        raise AttributeError(f"No input comes from a step named '{name}'; the inputs come from: {names}.")

    def __getstate__(self) -> Any:
        raise FlowstoneException(_NOT_STORABLE)

    def __repr__(self) -> str:
        return f"<Inputs of {len(self)} tasks>"
