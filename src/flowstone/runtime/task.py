"""Running one attempt of one task, inside the task's own process.

:func:`run_task` chains one concern per function: set the task's context, read its inputs, run the step under
its decorators, save the artifacts, record the attempt's metadata. It returns a :class:`TaskResult`; the DONE
marker is written by the runner afterwards, once the task's logs are stored too (``runtime/commit.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from flowstone._alarm import raise_after
from flowstone._environ import temporary_environ
from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.errors import FlowSpecError, FlowstoneException, TimeoutException, failure_report
from flowstone.flow.artifacts import ArtifactSource, Inputs, InputView
from flowstone.flow.configure import ensure_configured
from flowstone.flow.current import current
from flowstone.flow.decorators import ExceptionWrapper
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.transitions import Transition
from flowstone.flow.user_decorators import bound_decorators
from flowstone.reads import ReadLog
from flowstone.runtime.attempts import AttemptPolicy
from flowstone.runtime.task_spec import TaskResult, TaskSpec
from flowstone.runtime.watch import watching_reads
from flowstone.settings import use_settings

if TYPE_CHECKING:
    from flowstone.cards.rendering import CardSession

__all__ = ["run_task"]


class FailureHandledByCatch(Exception):
    """Raised in place of the step in the fallback attempt, after the last real attempt crashed."""


def run_task(flow_cls: type[FlowSpec], spec: TaskSpec, flow_datastore: FlowDataStore) -> TaskResult:
    """Run one attempt of a task and store what it produced."""
    started = time.time()
    # the flow as the run's configs make it (a process that has not applied them yet does it now, to the same
    # effect: a node of a cluster, or one forked before the configs were known)
    ensure_configured(flow_cls, spec.run.username, spec.run.configs)
    spec = spec._replace(decorators=bound_decorators(flow_cls, spec.decorators))  # user decorators travel by name
    datastore = flow_datastore.get_datastore_for_task(spec.run_id, spec.step_name, spec.task_id, spec.attempt, "w")
    datastore.init_task()
    policy = AttemptPolicy(spec.decorators)
    reads = ReadLog()
    with _task_context(spec, flow_cls):
        try:
            flow = _flow_with_inputs(flow_cls, spec, flow_datastore, datastore)
            cards = _start_cards(flow, spec, flow_datastore, datastore)
            with watching_reads(flow_cls, spec.run.settings) as reads:  # what it reads decides its reuse later
                result = _run_step(flow, spec, policy)
            if result.ok:
                _save_artifacts(flow, datastore)
                if cards is not None:  # rendered once the artifacts they show are stored
                    cards.finish()
        except Exception as exc:  # reading inputs or storing outputs failed: the task fails with the reason
            result = TaskResult(False, exception=_describe(exc))
            _report_failure(exc, spec.run.settings.debug)
    _record_metadata(datastore, spec, result, started, reads, policy.is_fallback(spec.attempt))
    return result


@contextmanager
def _task_context(spec: TaskSpec, flow_cls: type[FlowSpec]) -> Iterator[None]:
    """``current`` (which the S3 client reads too), the run's settings (for the Client API and the S3 client),
    and the variables naming the datastore (for processes the step starts); the scratch folder goes at the end."""
    settings = spec.run.settings
    current._set(
        flow_name=spec.flow_name,
        run_id=spec.run_id,
        step_name=spec.step_name,
        task_id=spec.task_id,
        retry_count=spec.attempt,
        origin_run_id=spec.run.origin_run_id,
        username=spec.run.username,
        tags=list(spec.run.tags),
        parameter_names=[param.name for _, param in flow_cls._get_parameters()],
        parallel=spec.parallel,
        **(spec.run.project or {}),
    )
    try:
        with use_settings(settings), temporary_environ(settings.datastore_environ()):
            yield
    finally:
        if current._tempdir:
            shutil.rmtree(current._tempdir, ignore_errors=True)
        current._clear()  # the task is over: no flow is running (S3(run=self) reads current), nothing left behind


def _flow_with_inputs(
    flow_cls: type[FlowSpec], spec: TaskSpec, fds: FlowDataStore, datastore: TaskDataStore
) -> FlowSpec:
    """A flow object bound to this task, its inputs ready to be read (lazily)."""
    flow = flow_cls(use_cli=False)
    flow._bind_task(
        spec.step_name,
        *_read_inputs(fds, flow_cls, spec),
        parameter_values=spec.parameter_values or {},
        foreach_stack=list(spec.foreach_stack),
        max_num_splits=spec.run.max_num_splits,
        datastore=datastore,
    )
    return flow


def _start_cards(flow: FlowSpec, spec: TaskSpec, fds: FlowDataStore, datastore: TaskDataStore) -> CardSession | None:
    """The step's cards (its decorators' ``card_request``), with ``current.card`` to add to them; None if none."""
    requests = [r for r in (d.card_request() for d in spec.decorators) if r is not None]
    if not requests:
        return None
    from flowstone.cards.reading import client_task  # imported by tasks that have cards only
    from flowstone.cards.rendering import CardSession
    from flowstone.cards.storage import CardStore

    def task() -> Any:  # read afresh for each render, from the run's datastore
        return client_task(spec.pathspec, (fds.TYPE, fds.datastore_root))

    graph = type(flow)._get_graph().describe()
    session = CardSession(requests, CardStore(fds.ca_store, datastore), task, graph, flow)
    current._update(card=session.collector)
    return session


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
    # a join starts empty, but for what every task of a run shares: the parameters and the constants
    shared = [attr for attr, _ in flow_cls._get_parameters()] + list(flow_cls._get_constants())
    return ArtifactSource.of_task(parents[0], shared), inputs


def _run_step(flow: FlowSpec, spec: TaskSpec, policy: AttemptPolicy) -> TaskResult:
    """Call the step function under its decorators' hooks; turn its outcome into a TaskResult."""
    node = type(flow)._get_graph()[spec.step_name]
    caught = False
    try:
        with temporary_environ(policy.environment()), _time_limit(policy.time_limit):
            for deco in spec.decorators:
                deco.task_pre_step(flow)
            if policy.is_fallback(spec.attempt):
                raise FailureHandledByCatch(
                    f"Attempt {policy.last_user_attempt} of {spec.pathspec} crashed; @catch continues the flow."
                )
            _call_step(flow, spec, node.is_join)
            for deco in spec.decorators:
                deco.task_post_step(flow)
    except Exception as exc:
        if not policy.catches(exc, flow, spec.attempt):
            _print_exception(exc)
            return TaskResult(False, exception=_describe(exc))
        caught = True
        flow._transition = Transition(list(node.out_funcs))
    finally:
        for deco in spec.decorators:
            deco.task_finally(flow)
    return _transition_result(flow, spec, caught)


def _call_step(flow: FlowSpec, spec: TaskSpec, is_join: bool) -> None:
    """The step function, inside each decorator's ``wrap_step`` (the last decorator listed is the outermost)."""
    step_function = getattr(flow, spec.step_name)

    def run_step() -> None:
        step_function(flow._task["inputs"]) if is_join else step_function()

    call: Callable[[], None] = run_step
    for deco in spec.decorators:
        call = functools.partial(deco.wrap_step, call, flow)
    call()


def _transition_result(flow: FlowSpec, spec: TaskSpec, caught: bool) -> TaskResult:
    """The result of a step that finished: where the flow goes next."""
    transition = flow._transition
    if spec.step_name == type(flow)._get_graph().end_step:
        return TaskResult(True, caught=caught)
    if transition is None:
        error = FlowSpecError("the step finished without calling self.next().", spec.step_name)
        _print_exception(error)
        return TaskResult(False, exception=_describe(error))
    return TaskResult(True, tuple(transition.steps), transition.foreach, transition.num_splits, caught=caught)


def _time_limit(seconds: float | None) -> AbstractContextManager[None]:
    """Raise TimeoutException in the step after ``seconds`` (the runner kills the process a little later)."""
    return raise_after(seconds, lambda: TimeoutException(f"Step {current.step_name} timed out after {seconds:g} "
                                                         f"seconds (@timeout)."))  # fmt: skip


def _save_artifacts(flow: FlowSpec, datastore: TaskDataStore) -> None:
    values, refs = flow._artifacts_to_persist()
    datastore.save_artifacts(values, len_hint=len(values), refs=refs)


def _record_metadata(datastore: TaskDataStore, spec: TaskSpec, result: TaskResult, started: float,
                     reads: ReadLog, fallback: bool) -> None:  # fmt: skip
    datastore.save_metadata({
        "attempt": spec.attempt,
        "attempt_ok": result.ok,
        "started_at": started,
        "finished_at": time.time(),
        "input_paths": [f"{spec.run_id}/{p}" for p in spec.input_paths],
        "foreach_stack": [f.to_json() for f in spec.foreach_stack],
        "iteration": spec.iteration,
        "parallel": spec.parallel._asdict() if spec.parallel else None,
        "next_steps": list(result.next_steps),
        "foreach_var": result.foreach_var,
        "num_splits": result.num_splits,
        "exception": result.exception,
        "code_package": spec.run.code_package,
        "decorators": [d.describe() for d in spec.decorators],
        "origin_run_id": spec.run.origin_run_id,
        "user": spec.run.username,
        "hostname": os.uname().nodename,
        "pid": os.getpid(),
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "fallback": fallback,
        "caught": result.caught,
        "cache": spec.cache,
        "external_reads": reads.to_json(),
    })  # fmt: skip


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


def _report_failure(exc: BaseException, debug: bool) -> None:
    """A failure of flowstone's own work around the step: what failed and what to do (the traceback with
    ``FLOWSTONE_DEBUG=1``); anything else with its traceback."""
    if isinstance(exc, FlowstoneException) and not debug:
        sys.stderr.write(failure_report(exc, debug))
    else:
        _print_exception(exc)


def _print_exception(exc: BaseException) -> None:
    import traceback

    exc = _strip_runtime_frames(exc)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
