"""The scheduling loop of a run: start ready tasks up to ``max_workers``, stream their output, record their
outcome, retry failures, and end the run when ``end`` is done or a task fails for good.

One loop serves every executor; executors differ only in where a task's function runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from flowstone._environ import temporary_environ
from flowstone.datastore import FlowDataStore
from flowstone.executors.base import Executor, Exited, OutputLine
from flowstone.flow.current import get_username
from flowstone.flow.decorators import CatchDecorator, RetryDecorator, TimeoutDecorator
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.include_file import IncludedFile, plain_values
from flowstone.flow.lint import check_graph
from flowstone.runtime.cache import CacheKey, TaskCache
from flowstone.runtime.console import Console
from flowstone.runtime.package import save_code_package
from flowstone.runtime.remote_task import runtime_name, task_function
from flowstone.runtime.resume import ResumeIndex
from flowstone.runtime.reuse import Decision, ReusePolicy, clone_task
from flowstone.runtime.scheduler import FinishedTask, Scheduler, TaskPlan
from flowstone.runtime.step_config import step_decorators
from flowstone.runtime.task import TaskResult, TaskSpec

__all__ = ["RunLoop", "RunOptions", "RunOutcome"]

# Extra time the runtime grants past a @timeout before killing the task outright (the step itself is
# interrupted at the limit; this catches code that does not return to Python).
TIMEOUT_GRACE_SECONDS = 5.0


class RunOptions(NamedTuple):
    max_workers: int = 16
    max_num_splits: int = 100
    tags: tuple[str, ...] = ()
    decospecs: tuple[str, ...] = ()
    run_id_file: str | None = None
    origin_run_id: str | None = None  # set by resume
    use_cache: bool = True  # reuse results of earlier tasks with the same cache key
    clone_only: bool = False  # resume: clone the origin's tasks even if their cache key changed


class RunOutcome(NamedTuple):
    run_id: str
    ok: bool
    failed_tasks: tuple[str, ...] = ()
    tasks_run: int = 0
    seconds: float = 0.0


@dataclass
class _Active:
    spec: TaskSpec
    pid: int
    prefix: str
    cache_key: CacheKey | None  # recorded in the cache index if the task succeeds
    logs: dict[str, list[bytes]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    times: dict[str, list[float]] = field(default_factory=lambda: {"stdout": [], "stderr": []})


@dataclass
class _Queued:
    plan: TaskPlan
    attempt: int = 0
    task_id: str | None = None
    not_before: float = 0.0
    decision: Decision | None = None  # made before the first attempt, kept for the retries


class RunLoop:
    """Runs one flow run to completion with the given executor."""

    def __init__(
        self,
        flow_cls: type[FlowSpec],
        flow_datastore: FlowDataStore,
        executor: Executor,
        options: RunOptions | None = None,
        console: Console | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.fds = flow_datastore
        self.executor = executor
        self.options = options or RunOptions()
        self.console = console or Console()
        self.graph = flow_cls._get_graph()
        self.decorators = step_decorators(self.graph, self.options.decospecs)
        self.scheduler = Scheduler(self.graph)
        self.username = get_username()
        self.run_id = ""
        self.code_package: str | None = None
        self._parameters: dict[str, Any] = {}
        self._queue: deque[_Queued] = deque()
        self._active: dict[Hashable, _Active] = {}
        self._done_attempts: dict[str, int] = {}  # "step/task_id" -> its successful attempt
        self._next_task_id = 1
        self._failed: list[str] = []
        self._finished = 0
        self._stopping = False
        self._end_done = False
        self.cache = TaskCache(flow_cls, flow_datastore, self.decorators, enabled=self.options.use_cache)
        self.reuse = ReusePolicy(self.cache, clone_only=self.options.clone_only)

    # -- the run ----------------------------------------------------------------------------------
    def run(self, parameter_values: dict[str, Any]) -> RunOutcome:
        check_graph(self.graph)
        started = time.monotonic()
        included = {name: v for name, v in parameter_values.items() if isinstance(v, IncludedFile)}
        self._parameters = plain_values(parameter_values)  # steps, the cache and the client see the content
        self._create_run(included)
        self.console.info(f"Workflow starting (run-id {self.run_id}):")
        self.console.start_progress()
        self._queue.extend(_Queued(plan) for plan in self.scheduler.initial())
        try:
            with temporary_environ(_datastore_environment(self.fds)):
                self._loop()
        except KeyboardInterrupt:
            self._fail_run("the run was interrupted")
            self._drain()
        finally:
            self.console.stop_progress()
        ok = not self._failed and self._end_done
        outcome = RunOutcome(self.run_id, ok, tuple(self._failed), self._finished, time.monotonic() - started)
        self.fds.save_run_end(
            self.run_id,
            {"status": "succeeded" if ok else "failed", "finished_at": time.time(), "failed_tasks": self._failed},
        )
        return outcome

    def resume(self, origin_run_id: str, resume_step: str | None = None) -> RunOutcome:
        """Run again, reusing the successful tasks of run ``origin_run_id`` (before ``resume_step``, if given)."""
        self.reuse.resume = ResumeIndex(self.fds, self.graph, origin_run_id, resume_step)
        self.options = self.options._replace(origin_run_id=origin_run_id)
        names = [attr for attr, _ in self.flow_cls._get_parameters()]
        return self.run(self.reuse.resume.parameters(names))

    def _create_run(self, included: dict[str, IncludedFile]) -> None:
        flow_file = sys.modules[self.flow_cls.__module__].__file__ or ""
        self.code_package, files = save_code_package(self.fds.ca_store, flow_file)
        parameters = {k: _jsonable(v) for k, v in self._parameters.items() if k not in included}
        for name, file in included.items():  # stored before any step runs; the record says where it came from
            parameters[name] = file.describe(self.fds.ca_store.put(file.raw).key)
        now = datetime.now(timezone.utc)
        record = {
            "flow_name": self.flow_cls.__name__,
            "created_at": time.time(),
            "user": self.username,
            "system_tags": [
                f"user:{self.username}",
                f"runtime:{runtime_name(self.executor)}",
                f"python_version:{_python_version()}",
                f"date:{now.strftime('%Y-%m-%d')}",
            ],
            "parameters": parameters,
            "code_package": self.code_package,
            "code_files": files,
            "flow_file": os.path.basename(flow_file),
            "graph": self.graph.describe(),
            "origin_run_id": self.options.origin_run_id,
            "decospecs": list(self.options.decospecs),
            "runner": {"pid": os.getpid(), "host": os.uname().nodename},
        }
        self.run_id = self.fds.create_run(record)
        self.fds.save_run_tags(self.run_id, self.options.tags)
        if self.options.run_id_file:
            with open(self.options.run_id_file, "w") as f:
                f.write(self.run_id)

    def _loop(self) -> None:
        while True:
            self._launch_ready()
            if not self._active:
                if not self._queue:
                    return
                self._sleep_until_due()
                continue
            for event in self.executor.wait(timeout=self._wait_timeout()):
                if isinstance(event, OutputLine):
                    self._on_output(event)
                elif isinstance(event, Exited):
                    self._on_exit(event)
            self._report_progress()

    def _drain(self) -> None:
        """Kill what still runs and record its end."""
        for key in list(self._active):
            self.executor.kill(key)
        while self._active:
            for event in self.executor.wait(timeout=1.0):
                if isinstance(event, Exited):
                    self._on_exit(event)
                elif isinstance(event, OutputLine):
                    self._on_output(event)

    # -- launching --------------------------------------------------------------------------------
    def _launch_ready(self) -> None:
        now = time.monotonic()
        while not self._stopping and self._queue and len(self._active) < self.options.max_workers:
            item = self._queue[0]
            if item.not_before > now:
                # retries wait their turn; look for another ready task behind them
                ready = next((q for q in self._queue if q.not_before <= now), None)
                if ready is None:
                    return
                self._queue.remove(ready)
                item = ready
            else:
                self._queue.popleft()
            self._launch(item)

    def _launch(self, item: _Queued) -> None:
        if item.task_id is None:
            item.task_id = str(self._next_task_id)
            self._next_task_id += 1
        plan = item.plan
        if item.decision is None:
            item.decision = self.reuse.decide(plan, self._locate, self._parameters)
            if item.decision.reuse is not None:
                self._clone(plan, item.task_id, item.decision)
                return
        decision = item.decision
        decorators = self.decorators[plan.step_name]
        retry = next((d for d in decorators if isinstance(d, RetryDecorator)), None)
        spec = TaskSpec(
            flow_name=self.flow_cls.__name__,
            run_id=self.run_id,
            step_name=plan.step_name,
            task_id=item.task_id,
            attempt=item.attempt,
            input_paths=plan.input_paths,
            input_attempts=tuple(self._done_attempts[p] for p in plan.input_paths),
            foreach_stack=plan.foreach_stack,
            input_frames=plan.input_frames,
            decorators=decorators,
            last_user_attempt=int(retry.attributes["times"]) if retry else 0,
            parameter_values=self._parameters if plan.step_name == "start" else {},
            max_num_splits=self.options.max_num_splits,
            origin_run_id=self.options.origin_run_id,
            code_package=self.code_package,
            tags=self.options.tags,
            username=self.username,
            cache=decision.info,
        )
        timeout = next((d for d in decorators if isinstance(d, TimeoutDecorator)), None)
        limit = timeout.total_seconds + TIMEOUT_GRACE_SECONDS if timeout else None
        task = task_function(self.executor, self.flow_cls, spec, self.fds)  # picklable: it may travel
        pid = self.executor.submit(spec.task_id, task, time_limit=limit)
        prefix = f"{self.run_id}/{spec.step_name}/{spec.task_id} (pid {pid})"
        cacheable = decision.key is not None and self.cache.why_not_cacheable(plan.step_name) is None
        self._active[spec.task_id] = _Active(spec, pid, prefix, decision.key if cacheable else None)
        note = "Task is starting." if spec.attempt == 0 else f"Task is starting (retry attempt {spec.attempt})."
        if decision.message and spec.attempt == 0:
            self.console.task_line(prefix, decision.message, system=True)
        self.console.task_line(prefix, note, system=True)

    def _locate(self, path: str) -> tuple[str, str, int]:
        return self.run_id, path.split("/")[1], self._done_attempts[path]

    def _clone(self, plan: TaskPlan, task_id: str, decision: Decision) -> None:
        """Reuse an earlier task instead of running this one (resume or cache hit)."""
        origin = decision.reuse
        assert origin is not None
        clone_task(self.fds, origin, self.run_id, task_id, list(plan.input_paths), decision.info)
        if self.reuse.resume is not None and decision.info["decision"] == "resumed":
            self.reuse.resume.clone_map[f"{plan.step_name}/{task_id}"] = f"{plan.step_name}/{origin.datastore.task_id}"
        meta = origin.metadata
        spec_like = TaskSpec(
            self.flow_cls.__name__, self.run_id, plan.step_name, task_id, 0, plan.input_paths, (),
            plan.foreach_stack, plan.input_frames, (), 0,
        )  # fmt: skip
        prefix = f"{self.run_id}/{plan.step_name}/{task_id}"
        self.console.task_line(prefix, decision.message, system=True)
        result = TaskResult(True, tuple(meta.get("next_steps", [])), meta.get("foreach_var"), meta.get("num_splits", 0))
        self._task_succeeded(spec_like, result, prefix, announce=False)

    def _wait_timeout(self) -> float | None:
        delays = [q.not_before - time.monotonic() for q in self._queue if q.not_before > 0]
        return max(min(delays), 0.0) if delays else None

    def _sleep_until_due(self) -> None:
        timeout = self._wait_timeout()
        if timeout:
            time.sleep(timeout)  # only a retry waiting for its minutes_between_retries is left

    # -- events -----------------------------------------------------------------------------------
    def _on_output(self, event: OutputLine) -> None:
        active = self._active.get(event.key)
        if active is None:
            return
        active.logs[event.stream].append(event.line)
        active.times[event.stream].append(time.time())
        self.console.task_line(active.prefix, event.line.decode("utf-8", "replace"), event.stream)

    def _on_exit(self, event: Exited) -> None:
        active = self._active.pop(event.key)
        spec = active.spec
        result = event.result if isinstance(event.result, TaskResult) else None
        datastore = self.fds.get_datastore_for_task(spec.run_id, spec.step_name, spec.task_id, spec.attempt, "w")
        for stream, lines in active.logs.items():
            if lines:
                datastore.save_log(stream, b"\n".join(lines) + b"\n", timestamps=active.times[stream])
        if result is not None and result.ok:
            datastore.done()  # valid even if the run is failing: a resume can reuse it
            if active.cache_key is not None and not result.caught:
                self.cache.record(active.cache_key, spec.run_id, spec.step_name, spec.task_id, spec.attempt)
            self._task_succeeded(spec, result, active.prefix)
            return
        if result is None:
            killed_by_us = self._stopping and event.returncode < 0
            reason = (
                "The task was stopped because the run failed."
                if killed_by_us
                else f"The task process {event.description}."
            )
            datastore.save_metadata(
                {"attempt_ok": False, "exception": {"type": "ProcessDied", "message": reason, "traceback": None}}
            )
            self.console.task_line(active.prefix, reason, "stderr")
        self._task_failed(spec, active.prefix, active.cache_key)

    def _task_succeeded(self, spec: TaskSpec, result: TaskResult, prefix: str, announce: bool = True) -> None:
        self._finished += 1
        path = f"{spec.step_name}/{spec.task_id}"
        self._done_attempts[path] = spec.attempt
        self._end_done = self._end_done or spec.step_name == "end"
        if announce:
            self.console.task_line(prefix, "Task finished successfully.", system=True)
        if self._stopping:
            return
        finished = FinishedTask(
            spec.step_name, spec.task_id, spec.foreach_stack, result.next_steps, result.foreach_var, result.num_splits
        )
        self._queue.extend(_Queued(plan) for plan in self.scheduler.finished(finished))

    def _task_failed(self, spec: TaskSpec, prefix: str, cache_key: CacheKey | None = None) -> None:
        if self._stopping:
            return
        max_attempt = spec.last_user_attempt + (1 if spec.decorator(CatchDecorator) else 0)
        if spec.attempt < max_attempt:
            retry = spec.decorator(RetryDecorator)
            delay = 60.0 * float(retry.attributes["minutes_between_retries"]) if retry else 0.0
            if spec.attempt + 1 > spec.last_user_attempt:
                delay = 0.0  # the @catch fallback runs no user code: no reason to wait
            self.console.task_line(prefix, f"Task failed; retrying (attempt {spec.attempt + 1} of {max_attempt}).",
                                   "stderr")  # fmt: skip
            plan = TaskPlan(spec.step_name, spec.input_paths, spec.foreach_stack, spec.input_frames)
            decision = Decision(None, cache_key, spec.cache or {}, "")
            self._queue.append(_Queued(plan, spec.attempt + 1, spec.task_id, time.monotonic() + delay, decision))
            return
        self.console.task_line(prefix, "Task failed.", "stderr")
        self._failed.append(spec.pathspec)
        self._fail_run(f"Step '{spec.step_name}' failed (task {spec.pathspec}).")

    def _fail_run(self, message: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._queue.clear()
        self.console.error(f"Workflow failed: {message}")
        for key in list(self._active):
            self.executor.kill(key)

    def _report_progress(self) -> None:
        self.console.progress(self._finished, len(self._active), len(self._failed), len(self._queue))


def _datastore_environment(fds: FlowDataStore) -> dict[str, str]:
    """Variables naming the run's datastore, set while the run lasts so tasks (and their subprocesses) inherit
    them: client objects created in a step (``Run(...)``) then read this run's datastore."""
    if fds.TYPE == "memory":  # private to this process: nothing another process could open
        return {}
    return {
        "FLOWSTONE_DEFAULT_DATASTORE": fds.TYPE,
        f"FLOWSTONE_DATASTORE_SYSROOT_{fds.TYPE.upper()}": fds.datastore_root,
    }


def _python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
