"""``current``: what a running task knows about itself (flow, run, step, task, attempt, ...)."""

from __future__ import annotations

from typing import Any, NamedTuple

from flowstone.errors import FlowstoneException, UnknownUser
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


def get_username() -> str:
    """The user runs are attributed to (see :func:`~flowstone.settings.resolve_username`); raises UnknownUser if
    no variable names one."""
    user = resolve_username()
    if user is None:
        raise UnknownUser()
    return user


class Current:
    """Properties of the running task; outside a task only ``is_running_flow`` (False) is available."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._tempdir: str | None = None

    def _set(self, **values: Any) -> None:
        self._values = dict(values)
        self._tempdir = None

    def _clear(self) -> None:
        self._values = {}

    def _get(self, name: str) -> Any:
        if name not in self._values:
            raise FlowstoneException(
                f"current.{name} is only available while a flow is running (inside a step); "
                f"check current.is_running_flow first."
            )
        return self._values[name]

    @property
    def is_running_flow(self) -> bool:
        return bool(self._values)

    @property
    def flow_name(self) -> str:
        return self._get("flow_name")

    @property
    def run_id(self) -> str:
        return self._get("run_id")

    @property
    def step_name(self) -> str:
        return self._get("step_name")

    @property
    def task_id(self) -> str:
        return self._get("task_id")

    @property
    def retry_count(self) -> int:
        return self._get("retry_count")

    @property
    def origin_run_id(self) -> str | None:
        return self._get("origin_run_id")

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def namespace(self) -> str:
        return f"user:{self.username}"

    @property
    def username(self) -> str:
        return self._values.get("username") or get_username()

    @property
    def parameter_names(self) -> list[str]:
        return list(self._get("parameter_names"))

    @property
    def tags(self) -> list[str]:
        return list(self._get("tags"))

    @property
    def parallel(self) -> Parallel:
        """The tasks of this @parallel step; a task of any other step is the only node of its own."""
        self._get("task_id")
        return self._values.get("parallel") or Parallel(LOOPBACK, 1, 0, None)

    @property
    def is_parallel(self) -> bool:
        """Whether this task belongs to a @parallel step."""
        return self._values.get("parallel") is not None

    @property
    def tempdir(self) -> str:
        """A scratch folder for this task, removed when the task ends."""
        if self._tempdir is None:
            import tempfile

            self._get("task_id")
            self._tempdir = tempfile.mkdtemp(prefix=f"flowstone-{self.run_id}-{self.step_name}-{self.task_id}-")
        return self._tempdir

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        raise AttributeError(f"current has no attribute '{name}'")


current = Current()
