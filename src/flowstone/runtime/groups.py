"""Tasks the run loop starts together: one task, or the tasks of a @parallel step.

The tasks of a @parallel step (a gang) start at the same time, however many tasks run already, since they may
wait for each other; they succeed together (the join sees them only once all have succeeded), and when one fails
the others are stopped and, if the step has retries left, all start again in their next attempt. They are reused
together too: all from the cache or the origin run of a resume, or none. Their task ids follow Metaflow's layout:
the first (the control task) has the next id of the run, the others ``<that id>_node_<index>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowstone.executors.base import Executor, Exited
from flowstone.executors.remote import GangSlot, RemoteExecutor
from flowstone.flow.decorators import StepDecorator
from flowstone.runtime.commit import why_it_died
from flowstone.runtime.remote_task import resources_of
from flowstone.runtime.reuse import Decision
from flowstone.runtime.scheduler import TaskPlan
from flowstone.runtime.task_spec import TaskResult, TaskSpec

__all__ = ["GroupAttempt", "QueuedGroup", "group_plans", "reserve_gang"]


@dataclass
class QueuedGroup:
    """Tasks waiting to start together, for their first attempt or a retry."""

    plans: tuple[TaskPlan, ...]
    attempt: int = 0
    task_ids: tuple[str, ...] = ()
    not_before: float = 0.0
    decisions: tuple[Decision, ...] = ()  # made before the first attempt, kept for the retries

    def assign_task_ids(self, first_id: int) -> None:
        control = str(first_id)
        self.task_ids = (control, *(f"{control}_node_{index}" for index in range(1, len(self.plans))))


@dataclass
class GroupAttempt:
    """One attempt of a group's tasks, as they exit."""

    group: QueuedGroup
    gang: tuple[GangSlot, ...] = ()  # on a cluster, where a @parallel step's tasks were given room together
    results: dict[str, TaskResult | None] = field(default_factory=dict)  # task id -> result (None: failed)
    first_failure: tuple[TaskSpec, str] | None = None  # the spec and console prefix of the task that failed first

    def gang_slot(self, task_id: str) -> GangSlot | None:
        return self.gang[self.group.task_ids.index(task_id)] if self.gang else None

    def record(self, spec: TaskSpec, prefix: str, result: TaskResult | None) -> bool:
        """Note how a task ended (``result`` None: it failed); True once every task of the attempt has ended."""
        self.results[spec.task_id] = result
        if result is None and self.first_failure is None:
            self.first_failure = (spec, prefix)
        return len(self.results) == len(self.group.plans)

    def exit_message(self, event: Exited, run_failing: bool) -> str:
        """Why a task's process ended without a result."""
        stopped = event.returncode < 0
        if stopped and not run_failing and self.first_failure is not None:
            return f"The task was stopped because task {self.first_failure[0].task_id} of its @parallel step failed."
        return why_it_died(event, stopped_by_run=run_failing and stopped)


def group_plans(plans: list[TaskPlan]) -> list[QueuedGroup]:
    """One group per task, except the tasks of one @parallel step, which form one group (in node order)."""
    gangs: dict[tuple[str, tuple[str, ...]], list[TaskPlan]] = {}
    groups: list[list[TaskPlan]] = []
    for plan in plans:
        if plan.foreach_stack and plan.foreach_stack[-1].is_parallel:
            key = (plan.step_name, plan.input_paths)
            if key not in gangs:
                gangs[key] = []
                groups.append(gangs[key])
            gangs[key].append(plan)
        else:
            groups.append([plan])
    return [QueuedGroup(tuple(sorted(g, key=lambda p: p.foreach_stack[-1].index if p.foreach_stack else 0)))
            for g in groups]  # fmt: skip


def reserve_gang(executor: Executor, group: QueuedGroup, decorators: dict[str, tuple[StepDecorator, ...]]
                 ) -> tuple[GangSlot, ...]:  # fmt: skip
    """Room for the tasks of a @parallel step to run together on a remote executor (nothing to reserve for
    reused tasks, or on this machine: a local executor starts them at once here)."""
    first, reused = group.plans[0], all(d.reuse is not None for d in group.decisions)
    is_gang = bool(first.foreach_stack) and first.foreach_stack[-1].is_parallel
    if reused or not is_gang or not isinstance(executor, RemoteExecutor):
        return ()
    gang_id = f"{first.step_name}/{group.task_ids[0]}/{group.attempt}"
    return executor.reserve_gang(gang_id, len(group.plans), resources_of(decorators[first.step_name]))
