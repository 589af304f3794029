"""Which tasks can run next: a pure function of the graph and the tasks that finished. No I/O, no processes.

A task is identified by its step and its foreach stack. When a task finishes, its transition decides what
follows: one task per next step, one per foreach item, or, for a join, one task once every branch of the split
it closes has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from flowstone.errors import FlowstoneException
from flowstone.flow.artifacts import ForeachFrame
from flowstone.flow.graph import FlowGraph

__all__ = ["FinishedTask", "Scheduler", "TaskPlan"]


class TaskPlan(NamedTuple):
    """A task that is ready to run."""

    step_name: str
    input_paths: tuple[str, ...]  # "step/task_id" of each parent task, in input order
    foreach_stack: tuple[ForeachFrame, ...] = ()
    input_frames: tuple[ForeachFrame | None, ...] = ()  # for a foreach join: each input's foreach frame


class FinishedTask(NamedTuple):
    """A task that completed, with the transition it took."""

    step_name: str
    task_id: str
    foreach_stack: tuple[ForeachFrame, ...]
    next_steps: tuple[str, ...]
    foreach_var: str | None = None
    num_splits: int = 0

    @property
    def path(self) -> str:
        return f"{self.step_name}/{self.task_id}"


@dataclass
class _JoinWait:
    expected: int
    stack: tuple[ForeachFrame, ...]
    arrived: dict[int | str, tuple[str, ForeachFrame | None]] = field(default_factory=dict)


class Scheduler:
    """Turns finished tasks into ready tasks."""

    def __init__(self, graph: FlowGraph) -> None:
        self.graph = graph
        self._joins: dict[tuple[str, tuple[ForeachFrame, ...]], _JoinWait] = {}

    def initial(self) -> list[TaskPlan]:
        return [TaskPlan("start", ())]

    @property
    def waiting_joins(self) -> int:
        return len(self._joins)

    def finished(self, task: FinishedTask) -> list[TaskPlan]:
        """The tasks made ready by ``task`` finishing."""
        if task.step_name == "end" or not task.next_steps:
            return []
        if task.foreach_var is not None:
            (target,) = task.next_steps
            return [
                TaskPlan(target, (task.path,), (*task.foreach_stack, ForeachFrame(task.step_name, task.foreach_var, i,
                                                                                     task.num_splits)))
                for i in range(task.num_splits)
            ]  # fmt: skip
        ready = []
        for target in task.next_steps:
            if self.graph[target].is_join:
                plan = self._arrive_at_join(target, task)
                if plan is not None:
                    ready.append(plan)
            else:
                ready.append(TaskPlan(target, (task.path,), task.foreach_stack))
        return ready

    def _arrive_at_join(self, join: str, task: FinishedTask) -> TaskPlan | None:
        split_parents = self.graph[task.step_name].split_parents
        if not split_parents:
            raise FlowstoneException(f"Step '{join}' is a join but '{task.step_name}' is not inside a split.")
        split = self.graph[split_parents[-1]]
        frame: ForeachFrame | None = None
        slot: int | str
        if split.split_type == "foreach":
            frame = task.foreach_stack[-1]
            stack, slot, expected = task.foreach_stack[:-1], frame.index, frame.num_splits
        else:
            stack, slot, expected = task.foreach_stack, task.step_name, len(self.graph[join].in_funcs)
        key = (join, stack)
        wait = self._joins.setdefault(key, _JoinWait(expected, stack))
        wait.arrived[slot] = (task.path, frame)
        if len(wait.arrived) < wait.expected:
            return None
        del self._joins[key]
        order: list[int | str]
        if frame is not None:
            order = sorted(int(slot) for slot in wait.arrived)  # foreach inputs in item order
        else:
            order = [name for name in self.graph[join].in_funcs if name in wait.arrived]
        inputs = [wait.arrived[slot] for slot in order]
        return TaskPlan(join, tuple(p for p, _ in inputs), stack, tuple(f for _, f in inputs))
