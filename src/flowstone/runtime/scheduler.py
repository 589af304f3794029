"""Which tasks can run next: a pure function of the graph and the tasks that finished. No I/O, no processes.

A task is identified by its step, its foreach stack and, on a loop, its round. When a task finishes, its
transition decides what follows: one task per next step (a switch names the one it chose), one per foreach item
or @parallel node, or, for a join, one task once every branch of the split it closes has arrived.

A loop (a switch going back to itself or to an earlier step) runs its steps again with new tasks; each task on a
loop knows its ``iteration``, which grows by one each time the flow goes back, so two rounds of the same step are
two tasks with two cache keys.
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
    iteration: int | None = None  # the round of the loop the step is on (None: the step is on no loop)


class FinishedTask(NamedTuple):
    """A task that completed, with the transition it took."""

    step_name: str
    task_id: str
    foreach_stack: tuple[ForeachFrame, ...]
    next_steps: tuple[str, ...]
    foreach_var: str | None = None
    num_splits: int = 0
    iteration: int | None = None

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
        if self.graph.start_step is None:
            raise FlowstoneException("The flow has no start step; run 'check' to see why.")
        start = self.graph.start_step
        return [TaskPlan(start, (), iteration=0 if start in self.graph.loops else None)]

    @property
    def waiting_joins(self) -> int:
        return len(self._joins)

    def finished(self, task: FinishedTask) -> list[TaskPlan]:
        """The tasks made ready by ``task`` finishing."""
        if task.step_name == self.graph.end_step or not task.next_steps:
            return []
        if task.foreach_var is not None:
            (target,) = task.next_steps
            count = task.num_splits
            frames = [ForeachFrame(task.step_name, task.foreach_var, index, count) for index in range(count)]
            iteration = self._iteration(task, target)
            return [TaskPlan(target, (task.path,), (*task.foreach_stack, f), (), iteration) for f in frames]
        ready = []
        for target in task.next_steps:
            if self.graph[target].is_join:
                plan = self._arrive_at_join(target, task)
                if plan is not None:
                    ready.append(plan)
            else:
                ready.append(TaskPlan(target, (task.path,), task.foreach_stack, (), self._iteration(task, target)))
        return ready

    def _iteration(self, task: FinishedTask, target: str) -> int | None:
        """The round of ``target``'s loop that a task of ``target`` following ``task`` is in."""
        loop = self.graph.loops.get(target)
        if loop is None:
            return None
        if task.step_name not in loop or task.iteration is None:
            return 0  # entering the loop
        if (task.step_name, target) in self.graph.back_edges:
            return task.iteration + 1  # going round again
        return task.iteration

    def _arrive_at_join(self, join: str, task: FinishedTask) -> TaskPlan | None:
        split_parents = self.graph[join].split_parents
        if not split_parents:
            raise FlowstoneException(f"Step '{join}' is a join but no split leads to it; run 'check' to see why.")
        split = self.graph[split_parents[-1]]
        frame: ForeachFrame | None = None
        slot: int | str
        if split.type == "foreach":
            frame = task.foreach_stack[-1]
            stack, slot, expected = task.foreach_stack[:-1], frame.index, frame.num_splits
        else:  # the branch the task is on: switches inside a branch may reach the join from several steps
            branches = self.graph[task.step_name].split_branches
            stack, slot, expected = task.foreach_stack, branches[-1], len(split.out_funcs)
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
            order = [branch for branch in split.out_funcs if branch in wait.arrived]  # in the split's order
        inputs = [wait.arrived[slot] for slot in order]
        return TaskPlan(join, tuple(p for p, _ in inputs), stack, tuple(f for _, f in inputs))
