"""The scheduling loop of a run: start ready tasks up to ``max_workers``, take the executor's events, finish
the run when ``end`` is done or a task has failed for good.

What happens around the loop lives beside it: the run's records (``run_record``), whether a task is reused
(``reuse``), the spec of an attempt (``task_spec``), what follows a failed attempt (``attempts``), and writing a
finished attempt or a reused task (``commit``). One loop serves every executor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from flowstone.datastore import FlowDataStore
from flowstone.executors.base import Executor, Exited, OutputLine
from flowstone.flow.configure import ensure_configured
from flowstone.flow.current import get_username
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.include_file import plain_values
from flowstone.flow.lint import check_graph
from flowstone.runtime.attempts import AttemptPolicy
from flowstone.runtime.cache import CacheKey, TaskCache
from flowstone.runtime.commit import AttemptLogs, commit_attempt, commit_clone, why_it_died
from flowstone.runtime.console import Console
from flowstone.runtime.remote_task import runtime_name, task_function
from flowstone.runtime.resume import ResumeIndex
from flowstone.runtime.reuse import Decision, ReusePolicy
from flowstone.runtime.run_record import RunOptions, RunOutcome, finish_run, start_run
from flowstone.runtime.scheduler import FinishedTask, Scheduler, TaskPlan
from flowstone.runtime.step_config import run_notes, step_decorators
from flowstone.runtime.task_spec import RunInfo, TaskResult, TaskSpec, spec_for_attempt

__all__ = ["RunLoop"]


@dataclass
class _Active:
    spec: TaskSpec
    prefix: str
    cache_key: CacheKey | None  # recorded in the cache index if the task succeeds
    logs: AttemptLogs = field(default_factory=AttemptLogs)


@dataclass
class _Queued:
    plan: TaskPlan
    attempt: int = 0
    task_id: str | None = None
    not_before: float = 0.0
    decision: Decision | None = None  # made before the first attempt, kept for the retries


class RunLoop:
    """Runs one flow run to completion with the given executor."""

    def __init__(self, flow_cls: type[FlowSpec], flow_datastore: FlowDataStore, executor: Executor,
                 options: RunOptions | None = None, console: Console | None = None) -> None:  # fmt: skip
        self.flow_cls = flow_cls
        self.fds = flow_datastore
        self.executor = executor
        self.options = options or RunOptions()
        self.console = console or Console()
        self.username = get_username()
        ensure_configured(flow_cls, self.username)  # its configs read, its mutators run: before its graph is read
        self.graph = flow_cls._get_graph()
        self.decorators = step_decorators(self.graph, self.options.decospecs)
        self.policies = {name: AttemptPolicy(decorators) for name, decorators in self.decorators.items()}
        self.scheduler = Scheduler(self.graph)
        self.run_id = ""
        self._run: RunInfo | None = None
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
        self._parameters = plain_values(parameter_values)  # steps, the cache and the client see the content
        self._run = start_run(self.fds, self.flow_cls, self.username, runtime_name(self.executor), self.options,
                              parameter_values)  # fmt: skip
        self.run_id = self._run.run_id
        self.console.info(f"Workflow starting (run-id {self.run_id}):")
        for note in run_notes(self.decorators, runtime_name(self.executor)):
            self.console.info(note)
        self.console.start_progress()
        self._queue.extend(_Queued(plan) for plan in self.scheduler.initial())
        try:
            self._loop()
        except KeyboardInterrupt:
            self._fail_run("the run was interrupted")
            self._drain()
        finally:
            self.console.stop_progress()
        ok = not self._failed and self._end_done
        finish_run(self.fds, self.run_id, ok, self._failed)
        return RunOutcome(self.run_id, ok, tuple(self._failed), self._finished, time.monotonic() - started)

    def resume(self, origin_run_id: str, resume_step: str | None = None) -> RunOutcome:
        """Run again, reusing the successful tasks of run ``origin_run_id`` (before ``resume_step``, if given)."""
        self.reuse.resume = ResumeIndex(self.fds, self.graph, origin_run_id, resume_step)
        self.options = self.options._replace(origin_run_id=origin_run_id)
        names = [attr for attr, _ in self.flow_cls._get_parameters()]
        return self.run(self.reuse.resume.parameters(names))

    def _loop(self) -> None:
        while True:
            self._launch_ready()
            if not self._active:
                if not self._queue:
                    return
                time.sleep(self._wait_timeout() or 0.0)  # only retries waiting for their delay are left
                continue
            self._handle(self.executor.wait(timeout=self._wait_timeout()))
            self.console.progress(self._finished, len(self._active), len(self._failed), len(self._queue))

    def _drain(self) -> None:
        """Kill what still runs and record its end."""
        for key in list(self._active):
            self.executor.kill(key)
        while self._active:
            self._handle(self.executor.wait(timeout=1.0))

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, OutputLine):
                self._on_output(event)
            elif isinstance(event, Exited):
                self._on_exit(event)

    def _wait_timeout(self) -> float | None:
        delays = [q.not_before - time.monotonic() for q in self._queue if q.not_before > 0]
        return max(min(delays), 0.0) if delays else None

    # -- launching --------------------------------------------------------------------------------
    def _launch_ready(self) -> None:
        while not self._stopping and len(self._active) < self.options.max_workers:
            now = time.monotonic()
            ready = next((q for q in self._queue if q.not_before <= now), None)  # retries wait their turn
            if ready is None:
                return
            self._queue.remove(ready)
            self._launch(ready)

    def _launch(self, item: _Queued) -> None:
        if item.task_id is None:
            item.task_id, self._next_task_id = str(self._next_task_id), self._next_task_id + 1
        plan = item.plan
        if item.decision is None:
            item.decision = self.reuse.decide(plan, self._locate, self._parameters)
            if item.decision.reuse is not None:
                self._clone(plan, item.task_id, item.decision)
                return
        decision = item.decision
        assert self._run is not None
        input_attempts = tuple(self._done_attempts[p] for p in plan.input_paths)
        spec = spec_for_attempt(self._run, plan, item.task_id, item.attempt, input_attempts,
                                self.decorators[plan.step_name], self._parameters, decision.info)  # fmt: skip
        task = task_function(self.executor, self.flow_cls, spec, self.fds)  # picklable: it may travel
        pid = self.executor.submit(spec.task_id, task, time_limit=self.policies[plan.step_name].kill_after)
        prefix = f"{self.run_id}/{spec.step_name}/{spec.task_id} (pid {pid})"
        cacheable = decision.key is not None and self.cache.why_not_cacheable(plan.step_name) is None
        self._active[spec.task_id] = _Active(spec, prefix, decision.key if cacheable else None)
        if decision.message and spec.attempt == 0:
            self.console.task_line(prefix, decision.message, system=True)
        retry = f" (retry attempt {spec.attempt})" if spec.attempt else ""
        self.console.task_line(prefix, f"Task is starting{retry}.", system=True)

    def _locate(self, path: str) -> tuple[str, str, int]:
        return self.run_id, path.split("/")[1], self._done_attempts[path]

    def _clone(self, plan: TaskPlan, task_id: str, decision: Decision) -> None:
        """Reuse an earlier task instead of running this one (resume or cache hit)."""
        origin = decision.reuse
        assert origin is not None
        commit_clone(self.fds, origin, self.run_id, task_id, list(plan.input_paths), decision.info)
        if self.reuse.resume is not None and decision.info["decision"] == "resumed":
            self.reuse.resume.clone_map[f"{plan.step_name}/{task_id}"] = f"{plan.step_name}/{origin.datastore.task_id}"
        self.console.task_line(f"{self.run_id}/{plan.step_name}/{task_id}", decision.message, system=True)
        self._task_succeeded(plan, task_id, 0, TaskResult.from_metadata(origin.metadata))

    # -- events -----------------------------------------------------------------------------------
    def _on_output(self, event: OutputLine) -> None:
        active = self._active.get(event.key)
        if active is not None:
            active.logs.add(event.stream, event.line)
            self.console.task_line(active.prefix, event.line.decode("utf-8", "replace"), event.stream)

    def _on_exit(self, event: Exited) -> None:
        active = self._active.pop(event.key)
        spec = active.spec
        result = event.result if isinstance(event.result, TaskResult) else None
        died = None
        if result is None:
            died = why_it_died(event, stopped_by_run=self._stopping and event.returncode < 0)
            self.console.task_line(active.prefix, died, "stderr")
        cache = (self.cache, active.cache_key) if active.cache_key is not None else None
        commit_attempt(self.fds, spec, active.logs, result, died, cache)
        plan = TaskPlan(spec.step_name, spec.input_paths, spec.foreach_stack, spec.input_frames)
        if result is not None and result.ok:
            if result.foreach_var is not None:
                self.console.task_line(active.prefix, f"Foreach yields {result.num_splits} child steps.", system=True)
            self.console.task_line(active.prefix, "Task finished successfully.", system=True)
            self._task_succeeded(plan, spec.task_id, spec.attempt, result)
        else:
            self._task_failed(plan, spec, active.prefix, active.cache_key)

    def _task_succeeded(self, plan: TaskPlan, task_id: str, attempt: int, result: TaskResult) -> None:
        self._finished += 1
        self._done_attempts[f"{plan.step_name}/{task_id}"] = attempt
        self._end_done = self._end_done or plan.step_name == "end"
        if not self._stopping:
            finished = FinishedTask(plan.step_name, task_id, plan.foreach_stack, result.next_steps,
                                    result.foreach_var, result.num_splits)  # fmt: skip
            self._queue.extend(_Queued(p) for p in self.scheduler.finished(finished))

    def _task_failed(self, plan: TaskPlan, spec: TaskSpec, prefix: str, cache_key: CacheKey | None) -> None:
        if self._stopping:
            return
        policy = self.policies[spec.step_name]
        following = policy.after_failure(spec.attempt)
        if following is None:
            self.console.task_line(prefix, "Task failed.", "stderr")
            self._failed.append(spec.pathspec)
            self._fail_run(f"Step '{spec.step_name}' failed (task {spec.pathspec}).")
            return
        self.console.task_line(prefix, f"Task failed; retrying (attempt {following.attempt} of "
                                       f"{policy.last_attempt}).", "stderr")  # fmt: skip
        decision = Decision(None, cache_key, spec.cache or {}, "")
        not_before = time.monotonic() + following.delay
        self._queue.append(_Queued(plan, following.attempt, spec.task_id, not_before, decision))

    def _fail_run(self, message: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._queue.clear()
        self.console.error(f"Workflow failed: {message}")
        for key in list(self._active):
            self.executor.kill(key)

