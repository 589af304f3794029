"""What the S3 client knows of the task it runs in, if any: the flow and run (for ``S3(run=self)``) and the
task's scratch directory (where downloads go). Outside a task it is None.

``current`` (in the flow layer, above this one) is what knows the running task: it registers itself here as the
source (:func:`set_task_context_source`), so whatever sets ``current`` (the runtime, or code that fakes a running
flow the way Metaflow's own tests do) is what ``S3(run=self)`` sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = ["TaskContext", "set_task_context_source", "task_context"]


class TaskContext(NamedTuple):
    flow_name: str
    run_id: str
    #: The task's scratch folder, created on first call (most tasks never download anything).
    tempdir: Callable[[], str]


def _no_task() -> TaskContext | None:
    return None


_source: list[Callable[[], TaskContext | None]] = [_no_task]


def set_task_context_source(source: Callable[[], TaskContext | None]) -> None:
    """Make ``source`` what tells the running task's context (``current`` does this when it is imported)."""
    _source[0] = source


def task_context() -> TaskContext | None:
    """The running task's context, or None outside a task."""
    return _source[0]()
