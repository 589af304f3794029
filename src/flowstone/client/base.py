"""What every client object shares: identity by pathspec, the datastore it reads, its parent, its run's tags,
the namespace it was made in, pickling.

As in Metaflow, an object remembers the namespace current when it was made: the objects reached from it (its
children) are checked against that namespace, not against whatever ``namespace()`` says later. An object made
in no namespace (``namespace(None)``), built with ``_namespace_check=False``, or unpickled, checks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from flowstone.client import context
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException, FlowstoneNamespaceMismatch, FlowstoneNotFound

if TYPE_CHECKING:
    from flowstone.client.runs import Run

__all__ = ["ChildNotFound", "ClientObject", "Metadata", "run_sort_key", "to_datetime"]


class ChildNotFound(FlowstoneNotFound, KeyError):
    """``parent[name]`` names nothing: a KeyError, as ``obj[...]`` raises in Metaflow (and in Python)."""


class Metadata(NamedTuple):
    """One metadata entry of a task; ``created_at`` is when it was recorded, in milliseconds since the epoch."""

    name: str
    value: Any
    created_at: int
    type: str
    task: Any


def to_datetime(timestamp: float | None) -> datetime | None:
    """A stored time as Metaflow's client gives times: a naive datetime in local time."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp)


def run_sort_key(run_id: str) -> tuple[int, str]:
    return (int(run_id), "") if run_id.isdigit() else (-1, run_id)


class ClientObject:
    """Common ground of Flow, Run, Step, Task and DataArtifact."""

    _DEPTH: ClassVar[int]
    _KIND: ClassVar[str]

    def __init__(self, pathspec: str, attempt: int | None = None, *, _namespace_check: bool = True,
                 _current_namespace: str | None = None, _ds: tuple[str, str] | None = None) -> None:  # fmt: skip
        self._setup(pathspec, attempt, _namespace_check=_namespace_check, _current_namespace=_current_namespace,
                    _ds=_ds)  # fmt: skip
        self._open()
        self._check_namespace()

    def _setup(self, pathspec: str, attempt: int | None = None, *, _namespace_check: bool = True,
               _current_namespace: str | None = None, _ds: tuple[str, str] | None = None) -> None:  # fmt: skip
        """Identity only: nothing is read."""
        parts = [p for p in pathspec.strip("/").split("/") if p]
        if len(parts) != self._DEPTH:
            example = "/".join(["FlowName", "run_id", "step_name", "task_id", "artifact_name"][: self._DEPTH])
            raise FlowstoneException(f"'{pathspec}' is not a {self._KIND} pathspec: expected '{example}'.")
        self._parts = parts
        self._ds = _ds or context.current_ds_spec()
        self._attempt = _checked_attempt(self._KIND, attempt)
        if _namespace_check and _current_namespace is None:
            _current_namespace = context.get_namespace()  # only needed to check (it names the user)
        self._current_namespace = _current_namespace
        self._namespace_check = _namespace_check and _current_namespace is not None

    def _open(self) -> None:
        """Check that the object exists (FlowstoneNotFound if not), reading what that takes."""
        raise NotImplementedError

    @classmethod
    def _unread(cls, pathspec: str, attempt: int | None = None, **options: Any) -> Any:
        """The object, not read nor checked yet: a child listed by its parent, made as the parent says."""
        obj = cls.__new__(cls)
        obj._setup(pathspec, attempt, **options)
        return obj

    def _child_options(self) -> dict[str, Any]:
        """How this object's children are made: in its namespace, reading its datastore."""
        return {"_namespace_check": self._namespace_check, "_ds": self._ds,
                "_current_namespace": self._current_namespace if self._namespace_check else None}  # fmt: skip

    def _adopt(self, parent: ClientObject | None, run: Run | None) -> None:
        """Remember the parent (and the run, whose tags a step, task or artifact shows) it was reached from."""
        self.__dict__["_parent"] = parent
        self.__dict__["_run_ref"] = run

    # -- identity ---------------------------------------------------------------------------------
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

    @property
    def parent(self) -> ClientObject | None:
        """The object one level up (a Task's Step, a Step's Run, a Run's Flow), whatever the namespace."""
        if self._DEPTH == 1:
            return None
        if self.__dict__.get("_parent") is None:
            self.__dict__["_parent"] = self._make_parent()
        parent: ClientObject = self.__dict__["_parent"]
        return parent

    def _make_parent(self) -> ClientObject:
        raise NotImplementedError

    def _run(self) -> Run:
        """The run this object belongs to (not checked against the namespace)."""
        from flowstone.client.runs import Run

        run = self.__dict__.get("_run_ref")
        if run is None:
            run = self.__dict__["_run_ref"] = Run._lazy(self._parts[0], self._parts[1], self._ds)
        return run

    # -- tags and namespaces ----------------------------------------------------------------------
    @property
    def tags(self) -> frozenset[str]:
        """The tags of the run this object belongs to (user and system tags)."""
        return self._run().tags

    @property
    def user_tags(self) -> frozenset[str]:
        return self._run().user_tags

    @property
    def system_tags(self) -> frozenset[str]:
        return self._run().system_tags

    def is_in_namespace(self) -> bool:
        """Whether this object is in the current namespace (always True in no namespace)."""
        return self._is_in_namespace(context.get_namespace())

    def _is_in_namespace(self, ns: str | None) -> bool:
        return ns is None or ns in self.tags

    def _check_namespace(self) -> None:
        ns = self._current_namespace
        if self._namespace_check and not self._is_in_namespace(ns):
            raise FlowstoneNamespaceMismatch(
                f"{self._KIND.capitalize()} '{self.pathspec}' is not in the current namespace '{ns}'. "
                f"Call namespace(None) to see every run, or namespace('<tag>') to switch."
            )

    def _filtered(self, children: Iterator[ClientObject], tags: tuple[str, ...]) -> Iterator[Any]:
        for child in children:
            if all(tag in child.tags for tag in tags):
                yield child

    def _ipython_key_completions_(self) -> list[str]:
        """What ``obj["...`` completes to in IPython: the children's ids."""
        children: Iterator[ClientObject] = iter(self)  # type: ignore[call-overload]
        return [child.id for child in children]

    def _not_found(self, what: str | None = None) -> FlowstoneNotFound:
        return FlowstoneNotFound(f"{what or self._KIND.capitalize()} '{self.pathspec}' does not exist in the "
                                 f"datastore {self._ds[0]}@{self._ds[1]}.")  # fmt: skip

    # -- pickling, equality -----------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"parts": self._parts, "ds": self._ds, "attempt": self._attempt}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """An unpickled object (an artifact holding a Run, say) reads wherever it is loaded: no namespace check."""
        self._parts, self._ds, self._attempt = state["parts"], tuple(state["ds"]), state.get("attempt")
        self._current_namespace, self._namespace_check = None, False

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.pathspec))

    def __repr__(self) -> str:
        if self._attempt is not None:
            return f"{type(self).__name__}('{self.pathspec}', attempt={self._attempt})"
        return f"{type(self).__name__}('{self.pathspec}')"

    __str__ = __repr__


def _checked_attempt(kind: str, attempt: Any) -> int | None:
    if attempt is None:
        return None
    if kind not in ("task", "artifact"):
        raise FlowstoneNotFound(f"Attempts can only be given for a Task or a DataArtifact, not a {kind}.")
    try:
        number = int(attempt)
    except (TypeError, ValueError):
        raise FlowstoneNotFound(f"Attempt {attempt!r} is not a number: give 0, 1, 2, ...") from None
    if number < 0:
        raise FlowstoneNotFound(f"Attempt {number} is negative: attempts count from 0.")
    return number
