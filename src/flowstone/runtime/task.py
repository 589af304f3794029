"""Running one attempt of one task, inside the task's own process.

``run_task`` reads the step's inputs, runs the step function under its decorators, and stores the artifacts and
the task's metadata. It returns a :class:`TaskResult`; the DONE marker is written by the caller afterwards, once
the task's logs are stored too.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from flowstone._environ import temporary_environ
from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowSpecError, TimeoutException
from flowstone.flow.artifacts import ArtifactSource, ForeachFrame, Inputs, InputView
from flowstone.flow.current import current
from flowstone.flow.decorators import (
    CatchDecorator,
    EnvironmentDecorator,
    ExceptionWrapper,
    StepDecorator,
    TimeoutDecorator,
)
from flowstone.flow.flowspec import FlowSpec, Transition
from flowstone.s3.reads import ExternalRead, recording_reads
from flowstone.s3.task_context import TaskContext, set_task_context

__all__ = ["TaskResult", "TaskSpec", "run_task"]


class TaskSpec(NamedTuple):
    """Everything a task process needs to run one attempt; picklable, so it can travel to another machine."""

    flow_name: str
    run_id: str
    step_name: str
    task_id: str
    attempt: int
    input_paths: tuple[str, ...]  # "step/task_id" within the run
    input_attempts: tuple[int, ...]
    foreach_stack: tuple[ForeachFrame, ...]
    input_frames: tuple[ForeachFrame | None, ...]
    decorators: tuple[StepDecorator, ...]
    last_user_attempt: int  # attempts after this one run the @catch fallback instead of the step
    parameter_values: dict[str, Any] | None = None  # set for 'start' only
    max_num_splits: int = 100
    origin_run_id: str | None = None
    code_package: str | None = None
    tags: tuple[str, ...] = ()
    username: str = ""
    cache: dict[str, Any] | None = None  # the cache decision and key components, kept in the task's metadata

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def is_fallback(self) -> bool:
        return self.attempt > self.last_user_attempt

    def decorator(self, cls: type[StepDecorator]) -> Any:
        return next((d for d in self.decorators if isinstance(d, cls)), None)


class TaskResult(NamedTuple):
    """What a task attempt reports back to the scheduler."""

    ok: bool
    next_steps: tuple[str, ...] = ()
    foreach_var: str | None = None
    num_splits: int = 0
    exception: dict[str, Any] | None = None
    caught: bool = False  # @catch turned a failure into success: such results are never cached


class FailureHandledByCatch(Exception):
    """Raised in place of the step in @catch's fallback attempt, after the last real attempt crashed."""


def run_task(flow_cls: type[FlowSpec], spec: TaskSpec, flow_datastore: FlowDataStore) -> TaskResult:
    """Run one attempt of a task and store what it produced."""
    started = time.time()
    datastore = flow_datastore.get_datastore_for_task(spec.run_id, spec.step_name, spec.task_id, spec.attempt, "w")
    datastore.init_task()
    _set_current(spec)
    set_task_context(TaskContext(spec.flow_name, spec.run_id, lambda: current.tempdir))
    flow = flow_cls(use_cli=False)
    result: TaskResult
    reads: dict[str, ExternalRead] = {}
    try:
        flow._bind_task(
            spec.step_name,
            *_read_inputs(flow_datastore, flow_cls, spec),
            parameter_values=spec.parameter_values or {},
            foreach_stack=list(spec.foreach_stack),
            max_num_splits=spec.max_num_splits,
            datastore=datastore,
        )
        with recording_reads() as reads:  # objects the step reads through S3 become part of its cache entry
            result = _run_step(flow, spec)
        if result.ok:
            values, refs = flow._artifacts_to_persist()
            datastore.save_artifacts(values, len_hint=len(values), refs=refs)
    except Exception as exc:  # reading inputs or storing outputs failed: the task fails with the reason
        result = TaskResult(False, exception=_describe(exc))
        _print_exception(exc)
    finally:
        _cleanup_tempdir()
        set_task_context(None)
    datastore.save_metadata({**_task_metadata(spec, result, started), "external_reads": list(reads.values())})
    return result


def _set_current(spec: TaskSpec) -> None:
    current._set(
        flow_name=spec.flow_name,
        run_id=spec.run_id,
        step_name=spec.step_name,
        task_id=spec.task_id,
        retry_count=spec.attempt,
        origin_run_id=spec.origin_run_id,
        username=spec.username,
        tags=list(spec.tags),
        parameter_names=list(spec.parameter_values or ()),
    )


def _read_inputs(fds: FlowDataStore, flow_cls: type[FlowSpec], spec: TaskSpec) -> tuple[ArtifactSource, Inputs | None]:
    parents = []
    for path, attempt in zip(spec.input_paths, spec.input_attempts, strict=True):
        step_name, task_id = path.split("/")
        parents.append(fds.get_datastore_for_task(spec.run_id, step_name, task_id, attempt=attempt))
    if not parents:
        return ArtifactSource(), None
    if not flow_cls._get_graph()[spec.step_name].is_join:
        return ArtifactSource.of_task(parents[0]), None
    frames = spec.input_frames or (None,) * len(parents)
    inputs = Inputs([InputView(ds, frame) for ds, frame in zip(parents, frames, strict=True)])
    parameter_names = [attr for attr, _ in flow_cls._get_parameters()]
    return ArtifactSource.of_task(parents[0], parameter_names), inputs


def _run_step(flow: FlowSpec, spec: TaskSpec) -> TaskResult:
    """Call the step function under the decorators' hooks; turn its outcome into a TaskResult."""
    node = type(flow)._get_graph()[spec.step_name]
    caught = False
    try:
        environment = spec.decorator(EnvironmentDecorator)
        variables = environment.attributes["vars"] if environment else {}
        with temporary_environ(variables), _time_limit(spec.decorator(TimeoutDecorator)):
            for deco in spec.decorators:
                deco.task_pre_step(flow)
            if spec.is_fallback:
                raise FailureHandledByCatch(
                    f"Attempt {spec.last_user_attempt} of {spec.pathspec} crashed; @catch continues the flow."
                )
            step_function = getattr(flow, spec.step_name)
            step_function(flow._task["inputs"]) if node.is_join else step_function()
            for deco in spec.decorators:
                deco.task_post_step(flow)
    except Exception as exc:
        if not any(d.task_exception(exc, flow, spec.attempt, spec.last_user_attempt) for d in spec.decorators):
            _print_exception(exc)
            return TaskResult(False, exception=_describe(exc))
        caught = True
        flow._transition = Transition(list(node.out_funcs))
    transition = flow._transition
    if spec.step_name == "end":
        return TaskResult(True, caught=caught)
    if transition is None:
        error = FlowSpecError("the step finished without calling self.next().", spec.step_name)
        _print_exception(error)
        return TaskResult(False, exception=_describe(error))
    return TaskResult(True, tuple(transition.steps), transition.foreach, transition.num_splits, caught=caught)


@contextmanager
def _time_limit(deco: TimeoutDecorator | None) -> Iterator[None]:
    """Raise TimeoutException in the step after @timeout's duration (the runtime kills it a little later)."""
    if deco is None:
        yield
        return
    seconds = deco.total_seconds

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutException(f"Step {current.step_name} timed out after {seconds:g} seconds (@timeout).")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_FLOWSTONE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _strip_runtime_frames(exc: BaseException) -> BaseException:
    """Drop the leading traceback frames that are flowstone's own, so the user's step comes first."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(_FLOWSTONE_DIR):
        tb = tb.tb_next
    return exc.with_traceback(tb)


def _describe(exc: BaseException) -> dict[str, Any]:
    wrapper = ExceptionWrapper(_strip_runtime_frames(exc))
    return {"type": wrapper.type, "message": wrapper.exception, "traceback": wrapper.stacktrace}


def _print_exception(exc: BaseException) -> None:
    import traceback

    exc = _strip_runtime_frames(exc)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def _cleanup_tempdir() -> None:
    tempdir = current._tempdir
    if tempdir:
        shutil.rmtree(tempdir, ignore_errors=True)


def _task_metadata(spec: TaskSpec, result: TaskResult, started: float) -> dict[str, Any]:
    return {
        "attempt": spec.attempt,
        "attempt_ok": result.ok,
        "started_at": started,
        "finished_at": time.time(),
        "input_paths": [f"{spec.run_id}/{p}" for p in spec.input_paths],
        "foreach_stack": [f.to_json() for f in spec.foreach_stack],
        "next_steps": list(result.next_steps),
        "foreach_var": result.foreach_var,
        "num_splits": result.num_splits,
        "exception": result.exception,
        "code_package": spec.code_package,
        "decorators": [d.describe() for d in spec.decorators],
        "origin_run_id": spec.origin_run_id,
        "user": spec.username,
        "hostname": os.uname().nodename,
        "pid": os.getpid(),
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "fallback": spec.is_fallback,
        "caught": result.caught,
        "cache": spec.cache,
    }


def is_catch_step(spec: TaskSpec) -> bool:
    return spec.decorator(CatchDecorator) is not None
