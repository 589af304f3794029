"""``current``: what a running task knows about itself (flow, run, step, task, attempt, ...)."""

from __future__ import annotations

from typing import Any, NamedTuple

from flowstone.errors import UnknownUser
from flowstone.settings import resolve_username

__all__ = ["LOOPBACK", "Current", "Parallel", "current", "get_username"]

#: The address of the control task of a @parallel step whose tasks all run on this machine.
LOOPBACK = "127.0.0.1"


class Parallel(NamedTuple):
    """The tasks of a @parallel step, as one of them sees them (``current.parallel``)."""

    main_ip: str  # where the control task runs
    num_nodes: int  # how many tasks the step has
    node_index: int  # this task's place among them (0: the control task)
    control_task_id: str | None

#: What ``current`` tells about the run's @project (see ``flow/project.py``).
PROJECT_FIELDS = ("project_name", "branch_name", "is_user_branch", "is_production", "project_flow_name")


def get_username() -> str:
    """The user runs are attributed to (see :func:`~flowstone.settings.resolve_username`); raises UnknownUser if
    no variable names one."""
    user = resolve_username()
    if user is None:
        raise UnknownUser()
    return user


class Current:
    """What the running task knows of itself. Outside a running flow every property is None (and
    ``is_running_flow`` False), as in Metaflow; ``current.get(name, default)`` and ``name in current`` read any
    value, those that decorators add (``project_name``, ``parallel``...) included. A flow's @project fields
    (``project_name``, ``branch_name``, ``is_user_branch``, ``is_production``, ``project_flow_name``) are known
    before any task runs: parameter defaults can read them."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._project: dict[str, Any] = {}
        self._tempdir: str | None = None

    def _set_project(self, fields: dict[str, Any] | None) -> None:
        """The run's @project fields, known before any task starts (None: the flow has no @project)."""
        self._project = dict(fields or {})

    def _set(self, **values: Any) -> None:
        self._values = dict(values)
        self._tempdir = None

    def _update(self, **values: Any) -> None:
        """Add values to the running task's (decorators add theirs)."""
        self._values.update(values)

    def _clear(self) -> None:
        self._values = {}
        self._tempdir = None

    def __contains__(self, name: str) -> bool:
        return getattr(self, name, None) is not None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)

    @property
    def is_running_flow(self) -> bool:
        return "run_id" in self._values

    @property
    def flow_name(self) -> str | None:
        return self._values.get("flow_name")

    @property
    def run_id(self) -> str | None:
        return self._values.get("run_id")

    @property
    def step_name(self) -> str | None:
        return self._values.get("step_name")

    @property
    def task_id(self) -> str | None:
        return self._values.get("task_id")

    @property
    def retry_count(self) -> int | None:
        return self._values.get("retry_count")

    @property
    def origin_run_id(self) -> str | None:
        return self._values.get("origin_run_id")

    @property
    def pathspec(self) -> str | None:
        parts = (self.flow_name, self.run_id, self.step_name, self.task_id)
        return None if None in parts else "/".join(parts)  # type: ignore[arg-type]

    @property
    def task(self) -> Any:
        """The running task as a Client API ``Task`` (None outside a running flow)."""
        pathspec = self.pathspec
        return None if pathspec is None else _client().Task(pathspec, _namespace_check=False)

    @property
    def run(self) -> Any:
        """The running run as a Client API ``Run`` (None outside a running flow)."""
        if self.flow_name is None or self.run_id is None:
            return None
        return _client().Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)

    @property
    def namespace(self) -> str | None:
        return f"user:{self.username}" if self.is_running_flow else None

    @property
    def username(self) -> str | None:
        return self._values.get("username")

    @property
    def parameter_names(self) -> list[str]:
        return list(self._values.get("parameter_names", ()))

    @property
    def tags(self) -> set[str] | None:
        """The run's user tags (a set of its own: changing it changes no tag)."""
        return set(self._values["tags"]) if "tags" in self._values else None

    @property
    def parallel(self) -> Parallel | None:
        """The tasks of this @parallel step; a task of any other step is the only node of its own (None outside a
        running flow)."""
        if not self.is_running_flow:
            return None
        return self._values.get("parallel") or Parallel(LOOPBACK, 1, 0, None)

    @property
    def is_parallel(self) -> bool:
        """Whether this task belongs to a @parallel step."""
        return self._values.get("parallel") is not None

    @property
    def tempdir(self) -> str | None:
        """A scratch folder for this task, removed when the task ends (None outside a running flow)."""
        if self._tempdir is None and self.is_running_flow:
            import tempfile

            self._tempdir = tempfile.mkdtemp(prefix=f"flowstone-{self.run_id}-{self.step_name}-{self.task_id}-")
        return self._tempdir

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        if name in self._project:
            return self._project[name]
        if name == "card":  # the cards' collector, set while a step with @card runs (flowstone.cards)
            raise AttributeError("current.card is set only while a step with @card runs: add @card to the step "
                                 "(or run with --with card).")  # fmt: skip
        if name in PROJECT_FIELDS:
            raise AttributeError(f"current.{name} is set for flows with @project only; this flow has none.")
        raise AttributeError(f"current has no attribute '{name}'")


def _client() -> Any:
    """The Client API. ``current.run`` and ``current.task`` are client objects, as in Metaflow: the one place
    the authoring API reaches up to the client layer, at call time only."""
    import importlib

    return importlib.import_module("flowstone.client")


current = Current()
