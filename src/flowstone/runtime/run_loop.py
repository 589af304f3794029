"""The scheduling loop of a run: start ready tasks up to ``max_workers``, take the executor's events (storing the
output of running tasks as it comes), finish the run when the end step is done or a task has failed for good.
Beside it: the run's records (``run_record``), is a task reused (``reuse``), an attempt's spec (``task_spec``),
after a failed attempt (``attempts``), storing and committing an attempt's output or a reused task (``commit``),
the tasks that start together (``groups``: one, or a @parallel step's, a gang on a cluster). Any executor.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from flowstone._interrupt import deferred, interruptible, raise_if_pending
from flowstone.datastore import FlowDataStore
from flowstone.executors.base import Executor, Exited, OutputLine
from flowstone.flow.configure import ensure_configured
from flowstone.flow.current import get_username
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.include_file import plain_values
from flowstone.flow.lint import check_graph
from flowstone.runtime.attempts import AttemptPolicy
from flowstone.runtime.cache import CacheKey, TaskCache
from flowstone.runtime.commit import AttemptLogs, commit_attempt, commit_clone, save_live_logs
from flowstone.runtime.console import Console
from flowstone.runtime.groups import GroupAttempt, QueuedGroup, group_plans, reserve_gang
from flowstone.runtime.remote_task import runtime_name, task_function
from flowstone.runtime.resume import ResumeIndex
from flowstone.runtime.reuse import Decision, ReusePolicy
from flowstone.runtime.run_record import RunOptions, RunOutcome, finish_run, start_run
from flowstone.runtime.scheduler import FinishedTask, Scheduler, TaskPlan
from flowstone.runtime.step_config import run_notes, step_decorators
from flowstone.runtime.step_environments import environments_for_run
from flowstone.runtime.task_spec import RunInfo, TaskResult, TaskSpec, spec_for_attempt

__all__ = ["RunLoop"]


@dataclass
class _Active:
    spec: TaskSpec
    prefix: str
    cache_key: CacheKey | None  # recorded in the cache index if the task succeeds
    attempt: GroupAttempt
    logs: AttemptLogs = field(default_factory=AttemptLogs)


class RunLoop:
    """Runs one flow run to completion with the given executor."""

    def __init__(self, flow_cls: type[FlowSpec], flow_datastore: FlowDataStore, executor: Executor,
                 options: RunOptions | None = None, console: Console | None = None) -> None:  # fmt: skip
        self.flow_cls, self.fds, self.executor = flow_cls, flow_datastore, executor
        self.options, self.console = options or RunOptions(), console or Console()
        self.username = get_username()
        ensure_configured(flow_cls, self.username)  # its configs read, its mutators run: before its graph is read
        self.graph = flow_cls._get_graph()
        self.decorators = step_decorators(self.graph, self.options.decospecs)
        self.policies = {name: AttemptPolicy(decorators) for name, decorators in self.decorators.items()}
        self.scheduler = Scheduler(self.graph)
        self.run_id = ""
        self._run: RunInfo | None = None
        self._parameters: dict[str, Any] = {}
        self._queue: deque[QueuedGroup] = deque()
        self._active: dict[Hashable, _Active] = {}
        self._done_attempts: dict[str, int] = {}  # "step/task_id" -> its successful attempt
        self._task_numbers = itertools.count(1)
        self._failed: list[str] = []
        self._finished, self._stopping, self._end_done = 0, False, False
        self.environments = environments_for_run(flow_cls, self.decorators, self.options.environment,
                                                 flow_datastore.settings, self.console.info)  # before any task
        self.cache = TaskCache(flow_cls, flow_datastore, self.decorators, self.options.use_cache, self.environments)
        self.reuse = ReusePolicy(self.cache, None, self.options.clone_only, self.options.max_num_splits)

    # -- the run ----------------------------------------------------------------------------------
    def run(self, parameter_values: dict[str, Any]) -> RunOutcome:
        check_graph(self.graph)
        started = time.monotonic()
        self._parameters = plain_values(parameter_values)  # steps, the cache and the client see the content
        self._run = start_run(self.fds, self.flow_cls, self.username, runtime_name(self.executor), self.options,
                              parameter_values)  # fmt: skip
        self.run_id = self._run.run_id
        self.console.info(f"Workflow starting (run-id {self.run_id}):")
        for note in run_notes(self.flow_cls, self.decorators, runtime_name(self.executor)):
            self.console.info(note)
        self.console.start_progress()
        self._queue.extend(group_plans(self.scheduler.initial()))
        with deferred():  # Ctrl-C stops the loop only while it waits, never halfway through recording a task
            try:
                self._loop()
            except KeyboardInterrupt:
                self._fail_run("the run was interrupted")
                self._drain()
            finally:
                self.console.stop_progress()
        ok, counts = not self._failed and self._end_done, (self._finished, self.reuse.reused)
        finish_run(self.fds, self.run_id, ok, self._failed, counts)
        return RunOutcome(self.run_id, ok, tuple(self._failed), *counts, time.monotonic() - started)

    def resume(self, origin_run_id: str, resume_step: str | None = None) -> RunOutcome:
        """Run again, reusing the successful tasks of run ``origin_run_id`` (before ``resume_step``, if given)."""
        self.reuse.resume = ResumeIndex(self.fds, self.graph, origin_run_id, resume_step)
        self.options = self.options._replace(origin_run_id=origin_run_id)
        return self.run(self.reuse.resume.parameters([attr for attr, _ in self.flow_cls._get_parameters()]))

    def _loop(self) -> None:
        while True:
            self._launch_ready()
            if not self._active:
                if not self._queue:
                    return
                with interruptible():
                    time.sleep(self._wait_timeout() or 0.0)  # only retries waiting for their delay are left
                continue
            running = [(active.spec, active.logs) for active in self._active.values()]
            self._handle(self.executor.wait(timeout=save_live_logs(self.fds, running, self._wait_timeout())))
            self.console.progress(self._finished, len(self._active), len(self._failed), len(self._queue))

    def _drain(self) -> None:
        """Kill what still runs and record its end."""
        self._kill(list(self._active))
        while self._active:
            self._handle(self.executor.wait(timeout=1.0))

    def _handle(self, events: list[OutputLine | Exited]) -> None:
        for event in events:
            self._on_output(event) if isinstance(event, OutputLine) else self._on_exit(event)

    def _wait_timeout(self) -> float | None:
        delays = [q.not_before - time.monotonic() for q in self._queue if q.not_before > 0]
        return max(min(delays), 0.0) if delays else None

    # -- launching --------------------------------------------------------------------------------
    def _launch_ready(self) -> None:
        while not self._stopping and len(self._active) < self.options.max_workers:
            raise_if_pending()  # between launches: each is recorded whole
            now = time.monotonic()
            ready = next((q for q in self._queue if q.not_before <= now), None)  # retries wait their turn
            if ready is None:
                return
            self._queue.remove(ready)
            self._launch(ready)

    def _launch(self, group: QueuedGroup) -> None:
        """Start the group's tasks (all of them: a @parallel step's tasks start together), or reuse them."""
        if not group.task_ids:
            group.assign_task_ids(next(self._task_numbers))
        if not group.decisions:  # a retry keeps the decisions of the first attempt (to run)
            group.decisions = self.reuse.decide_group(group.plans, self._locate, self._parameters)
        attempt = GroupAttempt(group, reserve_gang(self.executor, group, self.decorators))  # unless reused
        reused = all(d.reuse is not None for d in group.decisions)
        for plan, task_id, decision in zip(group.plans, group.task_ids, group.decisions, strict=True):
            if reused:
                self._clone(plan, task_id, decision)
            else:
                self._submit(plan, task_id, decision, attempt)

    def _submit(self, plan: TaskPlan, task_id: str, decision: Decision, attempt: GroupAttempt) -> None:
        assert self._run is not None
        input_attempts = tuple(self._done_attempts[p] for p in plan.input_paths)
        spec = spec_for_attempt(self._run, plan, task_id, attempt.group.attempt, input_attempts,
                                self.decorators[plan.step_name], self._parameters, decision.info,
                                attempt.gang_slot(task_id))  # fmt: skip
        task = task_function(self.executor, self.flow_cls, spec, self.fds, self.environments.get(plan.step_name))
        pid = self.executor.submit(spec.task_id, task, time_limit=self.policies[plan.step_name].kill_after)
        prefix = f"{self.run_id}/{spec.step_name}/{spec.task_id} (pid {pid})"
        cacheable = decision.key is not None and self.cache.why_not_cacheable(plan.step_name) is None
        self._active[spec.task_id] = _Active(spec, prefix, decision.key if cacheable else None, attempt)
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
        self.reuse.note_clone(plan.step_name, task_id, decision)
        self.console.task_line(f"{self.run_id}/{plan.step_name}/{task_id}", decision.message, system=True)
        self._task_succeeded(plan, task_id, 0, TaskResult.from_metadata(origin.metadata))

    # -- events -----------------------------------------------------------------------------------
    def _on_output(self, event: OutputLine) -> None:
        if (active := self._active.get(event.key)) is not None:
            active.logs.add(event.stream, event.line)
            self.console.task_line(active.prefix, event.line.decode("utf-8", "replace"), event.stream)

    def _on_exit(self, event: Exited) -> None:
        active = self._active.pop(event.key)
        spec, attempt = active.spec, active.attempt
        result = event.result if isinstance(event.result, TaskResult) else None
        died = None if result is not None else attempt.exit_message(event, self._stopping)
        if died is not None:
            self.console.task_line(active.prefix, died, "stderr")
        cache = (self.cache, active.cache_key) if active.cache_key is not None else None
        commit_attempt(self.fds, spec, active.logs, result, died, cache)
        done = result if result is not None and result.ok else None
        if done is not None:
            if done.foreach_var is not None:
                self.console.task_line(active.prefix, f"Foreach yields {done.num_splits} child steps.", system=True)
            self.console.task_line(active.prefix, "Task finished successfully.", system=True)
        elif attempt.first_failure is None:  # the group's other tasks cannot succeed without this one
            self._kill([key for key, other in self._active.items() if other.attempt is attempt])
        if not attempt.record(spec, active.prefix, done):
            return  # the group's other tasks still run
        group = attempt.group
        if attempt.first_failure is not None:
            self._task_failed(group, *attempt.first_failure)
            return
        for plan, task_id in zip(group.plans, group.task_ids, strict=True):
            self._task_succeeded(plan, task_id, group.attempt, attempt.results[task_id])  # type: ignore[arg-type]

    def _task_succeeded(self, plan: TaskPlan, task_id: str, attempt: int, result: TaskResult) -> None:
        self._finished += 1
        self._done_attempts[f"{plan.step_name}/{task_id}"] = attempt
        self._end_done = self._end_done or plan.step_name == self.graph.end_step
        if not self._stopping:
            finished = FinishedTask(plan.step_name, task_id, plan.foreach_stack, result.next_steps,
                                    result.foreach_var, result.num_splits, plan.iteration)  # fmt: skip
            self._queue.extend(group_plans(self.scheduler.finished(finished)))

    def _task_failed(self, group: QueuedGroup, spec: TaskSpec, prefix: str) -> None:
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
        group.attempt, group.not_before = following.attempt, time.monotonic() + following.delay
        self._queue.append(group)

    def _fail_run(self, message: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._queue.clear()
        self.console.error(f"Workflow failed: {message}")
        self._kill(list(self._active))

    def _kill(self, keys: list[Hashable]) -> None:
        for key in keys:
            self.executor.kill(key)
