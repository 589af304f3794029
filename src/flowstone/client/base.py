"""What every client object shares: identity by pathspec, the datastore it reads, namespace checks, pickling."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from flowstone.client import context
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException, FlowstoneNamespaceMismatch, FlowstoneNotFound

if TYPE_CHECKING:
    from flowstone.client.runs import Run

__all__ = ["ClientObject", "Metadata", "run_sort_key", "to_datetime"]


class Metadata(NamedTuple):
    """One metadata entry of a task."""

    name: str
    value: Any
    created_at: datetime
    type: str
    task: Any


def to_datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=timezone.utc)


def run_sort_key(run_id: str) -> tuple[int, str]:
    return (int(run_id), "") if run_id.isdigit() else (-1, run_id)


class ClientObject:
    """Common ground of Flow, Run, Step and Task: identity, pathspec, pickling, equality."""

    _DEPTH: ClassVar[int]
    _KIND: ClassVar[str]

    def __init__(self, pathspec: str, *, _namespace_check: bool = True, _ds: tuple[str, str] | None = None) -> None:
        parts = [p for p in pathspec.strip("/").split("/") if p]
        if len(parts) != self._DEPTH:
            example = "/".join(["FlowName", "run_id", "step_name", "task_id"][: self._DEPTH])
            raise FlowstoneException(f"'{pathspec}' is not a {self._KIND} pathspec: expected '{example}'.")
        self._parts = parts
        self._ds = _ds or context.current_ds_spec()
        self._namespace_check = _namespace_check

    @property
    def _fds(self) -> FlowDataStore:
        return context.flow_datastore(self._parts[0], self._ds)

    @property
    def id(self) -> str:
        return self._parts[-1]

    @property
    def pathspec(self) -> str:
        return "/".join(self._parts)

    @property
    def path_components(self) -> list[str]:
        return list(self._parts)

    def _run(self) -> Run:
        """The run this object belongs to (not checked against the namespace)."""
        from flowstone.client.runs import Run

        return Run._lazy(self._parts[0], self._parts[1], self._ds)

    def _not_found(self, what: str | None = None) -> FlowstoneNotFound:
        return FlowstoneNotFound(f"{what or self._KIND.capitalize()} '{self.pathspec}' does not exist in the "
                                 f"datastore {self._ds[0]}@{self._ds[1]}.")  # fmt: skip

    def _check_namespace(self, tags: Iterable[str]) -> None:
        ns = context.get_namespace()
        if self._namespace_check and ns is not None and ns not in tags:
            raise FlowstoneNamespaceMismatch(
                f"{self._KIND.capitalize()} '{self.pathspec}' is not in the current namespace '{ns}'. "
                f"Call namespace(None) to see every run, or namespace('<tag>') to switch."
            )

    def __getstate__(self) -> dict[str, Any]:
        return {"parts": self._parts, "ds": self._ds, "attempt": getattr(self, "_attempt", None)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._parts, self._ds, self._namespace_check = state["parts"], tuple(state["ds"]), False
        if self._DEPTH == 4:
            self._attempt = state.get("attempt")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.pathspec))

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.pathspec}')"

    __str__ = __repr__
