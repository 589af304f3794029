"""What the runner tells a task process (:class:`TaskSpec`) and what the task tells back (:class:`TaskResult`).

Both are plain, picklable tuples: a task may run in a forked child, in a fresh interpreter or on another
machine, and learns everything about its run from its spec, the run's :class:`~flowstone.settings.Settings`
included (it reads no configuration of its own from the environment).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flowstone.executors.remote import GangSlot
from flowstone.flow.artifacts import ForeachFrame
from flowstone.flow.current import LOOPBACK, Parallel
from flowstone.flow.decorators import StepDecorator
from flowstone.runtime.scheduler import TaskPlan
from flowstone.settings import Settings

__all__ = ["RunInfo", "TaskResult", "TaskSpec", "spec_for_attempt"]


class RunInfo(NamedTuple):
    """What every task of a run shares."""

    flow_name: str
    run_id: str
    settings: Settings
    username: str = ""
    tags: tuple[str, ...] = ()
    origin_run_id: str | None = None
    code_package: str | None = None
    max_num_splits: int = 100
    configs: dict[str, Any] | None = None  # config name -> value, as the run read them
    project: dict[str, Any] | None = None  # the @project fields of current (flow/project.py ProjectInfo)


class TaskSpec(NamedTuple):
    """Everything a task process needs to run one attempt."""

    run: RunInfo
    step_name: str
    task_id: str
    attempt: int
    input_paths: tuple[str, ...]  # "step/task_id" within the run
    input_attempts: tuple[int, ...]
    foreach_stack: tuple[ForeachFrame, ...]
    input_frames: tuple[ForeachFrame | None, ...]
    decorators: tuple[StepDecorator, ...]
    parameter_values: dict[str, Any] | None = None  # set for the start step only
    cache: dict[str, Any] | None = None  # the cache decision and key components, kept in the task's metadata
    iteration: int | None = None  # the round of the loop the step is on, if it is on one
    gang: GangSlot | None = None  # a @parallel step's task on a cluster: its place in the gang reserved for it

    @property
    def flow_name(self) -> str:
        return self.run.flow_name

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def pathspec(self) -> str:
        return f"{self.run.flow_name}/{self.run.run_id}/{self.step_name}/{self.task_id}"

    @property
    def parallel(self) -> Parallel | None:
        """What ``current.parallel`` says in a task of a @parallel step (None in any other task). Its tasks find
        each other at the control task's machine: this one, or the gang's main address on a cluster; the control
        task's id is the others' id up to ``_node_``."""
        frame = self.foreach_stack[-1] if self.foreach_stack else None
        if frame is None or not frame.is_parallel:
            return None
        main_address = self.gang.main_address if self.gang is not None else LOOPBACK
        return Parallel(main_address, frame.num_splits, frame.index, self.task_id.split("_node_")[0])


class TaskResult(NamedTuple):
    """What a task attempt reports back to the scheduler."""

    ok: bool
    next_steps: tuple[str, ...] = ()
    foreach_var: str | None = None
    num_splits: int = 0
    exception: dict[str, Any] | None = None
    caught: bool = False  # a decorator (@catch) turned a failure into success: such results are never cached

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> TaskResult:
        """The result a finished task recorded in its metadata (for a task reused instead of run)."""
        return cls(True, tuple(metadata.get("next_steps", [])), metadata.get("foreach_var"),
                   metadata.get("num_splits", 0))  # fmt: skip


def spec_for_attempt(
    run: RunInfo,
    plan: TaskPlan,
    task_id: str,
    attempt: int,
    input_attempts: tuple[int, ...],
    decorators: tuple[StepDecorator, ...],
    parameters: dict[str, Any],
    cache: dict[str, Any] | None,
    gang: GangSlot | None = None,
) -> TaskSpec:
    """The spec of attempt ``attempt`` of the task ``plan`` (the parameters travel to the start step only, the
    task without inputs: every other step reads them as artifacts)."""
    return TaskSpec(
        run=run,
        step_name=plan.step_name,
        task_id=task_id,
        attempt=attempt,
        input_paths=plan.input_paths,
        input_attempts=input_attempts,
        foreach_stack=plan.foreach_stack,
        input_frames=plan.input_frames,
        decorators=decorators,
        parameter_values=parameters if not plan.input_paths else {},
        cache=cache,
        iteration=plan.iteration,
        gang=gang,
    )
