"""What the S3 client knows of the task it runs in, if any: the flow and run (for ``S3(run=self)``) and the
task's scratch directory (where downloads go). The runtime sets it when a task starts; outside a task it is None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = ["TaskContext", "set_task_context", "task_context"]


class TaskContext(NamedTuple):
    flow_name: str
    run_id: str
    #: The task's scratch folder, created on first call (most tasks never download anything).
    tempdir: Callable[[], str]


_current: list[TaskContext | None] = [None]


def set_task_context(context: TaskContext | None) -> None:
    _current[0] = context


def task_context() -> TaskContext | None:
    """The running task's context, or None outside a task."""
    return _current[0]
