"""Deciding, before a task runs, whether an earlier task's results can stand in for it (resume, then the cache),
and recording the decision in the task's metadata under ``cache``. A reused task is committed by
``runtime/commit.py``."""

from __future__ import annotations

from typing import Any, NamedTuple

from flowstone.runtime.cache import CacheKey, Locator, TaskCache, unusable_artifacts
from flowstone.runtime.resume import OriginTask, ResumeIndex
from flowstone.runtime.scheduler import TaskPlan
from flowstone.runtime.why import summarize_differences

__all__ = ["Decision", "ReusePolicy"]


class Decision(NamedTuple):
    """Run the task, or reuse ``reuse`` in its place; ``info`` goes to the task's metadata."""

    reuse: OriginTask | None
    key: CacheKey | None
    info: dict[str, Any]
    message: str


class ReusePolicy:
    """Resume first (a task of the origin run at the same place), then the cross-run cache."""

    def __init__(self, cache: TaskCache, resume: ResumeIndex | None = None, clone_only: bool = False,
                 max_num_splits: int | None = None) -> None:  # fmt: skip
        self.cache = cache
        self.resume = resume
        self.clone_only = clone_only
        self.max_num_splits = max_num_splits  # a reused foreach may not start more tasks than a run one
        self.reused = 0  # tasks of this run reused instead of run (resume clones and cache hits)

    def decide(self, plan: TaskPlan, locate: Locator, parameters: dict[str, Any]) -> Decision:
        not_cacheable = self.cache.why_not_cacheable(plan.step_name)
        origin = self.resume.find(plan) if self.resume else None
        # the key is recorded even for tasks the cache does not reuse, so resume and `why` can compare it
        key = self.cache.key_for(plan, locate, parameters)
        info: dict[str, Any] = {"key": key.hash, "components": key.components}
        if origin is not None:
            unusable = unusable_artifacts(self.cache.fds, origin.datastore)  # even --clone-only needs its data
            if unusable:
                reason = f"the origin task {unusable}"
                message = f"Running again, not cloning {origin.datastore.pathspec}: {reason}."
                return Decision(None, key, {**info, "decision": "miss", "reason": reason, "cause": "stored"}, message)
            origin_cache, cause = origin.metadata.get("cache") or {}, "key"
            if self.clone_only:
                return self._reuse(origin, key, "resumed", f"Cloned from {origin.datastore.pathspec}.")
            if origin_cache.get("key") == key.hash:
                changed = self.cache.why_reads_differ(plan.step_name, origin.metadata.get("external_reads"),
                                                      origin.datastore.pathspec, resuming=True)  # fmt: skip
                if changed is None:
                    return self._reuse(origin, key, "resumed", f"Cloned from {origin.datastore.pathspec}.")
                why, cause = changed.reason, changed.kind
            else:
                old = origin_cache.get("components")
                why = summarize_differences(old, key.components) if old else "the origin task has no cache key"
            message = f"Running again, not cloning {origin.datastore.pathspec}: {why}."
            return Decision(None, key, {**info, "decision": "miss", "reason": why, "cause": cause}, message)
        if self.resume is not None and plan.step_name in self.resume.rerun_steps:
            return Decision(None, key, {**info, "decision": "rerun", "reason": "resume runs this step again"}, "")
        if not_cacheable is not None:
            return Decision(None, key, {**info, "decision": "off", "reason": not_cacheable}, "")
        found = self.cache.lookup(key)
        if found.source is None:
            warning = f"Warning: not reusing an earlier result: {found.reason}." if found.damaged else ""
            return Decision(None, key, {**info, "decision": "miss", "reason": found.reason, "cause": found.cause},
                            warning)  # fmt: skip
        _, source_run, step_name, task_id = found.source.split("/")
        source = self.cache.fds.get_datastore_for_task(source_run, step_name, task_id, attempt=found.attempt)
        origin = OriginTask(source, source.load_metadata())
        return self._reuse(origin, key, "hit", f"Cache hit: reusing {found.source}.")

    def note_clone(self, step_name: str, task_id: str, decision: Decision) -> None:
        """Count a reused task; remember one cloned from a resume's origin run, so the tasks after it can be
        cloned too."""
        self.reused += 1
        if self.resume is not None and decision.reuse is not None and decision.info["decision"] == "resumed":
            self.resume.clone_map[f"{step_name}/{task_id}"] = f"{step_name}/{decision.reuse.datastore.task_id}"

    def decide_group(
        self, plans: tuple[TaskPlan, ...], locate: Locator, parameters: dict[str, Any]
    ) -> tuple[Decision, ...]:
        """The decisions for tasks that start together: all are reused, or all run (the tasks of a @parallel step
        work as one, so reusing some and running the others would leave the new ones without their peers)."""
        decisions = tuple(self.decide(plan, locate, parameters) for plan in plans)
        if self.resume is not None and self.resume.damaged:  # said once, with the first task decided
            warning = f"Warning: not cloning tasks of the origin run whose records are damaged (they run again): " \
                      f"{'; '.join(self.resume.damaged)}."  # fmt: skip
            self.resume.damaged.clear()
            decisions = (decisions[0]._replace(message=f"{warning} {decisions[0].message}".strip()), *decisions[1:])
        if all(d.reuse is not None for d in decisions):
            return decisions
        reason = "other tasks of its @parallel step run, so it runs too"  # its cause: 'key', the default
        return tuple(d if d.reuse is None else self._run_anyway(d, reason) for d in decisions)

    @staticmethod
    def _run_anyway(decision: Decision, reason: str) -> Decision:
        info = {"key": decision.info["key"], "components": decision.info["components"], "decision": "miss",
                "reason": reason}  # fmt: skip
        return Decision(None, decision.key, info, "")

    def _reuse(self, origin: OriginTask, key: CacheKey, decision: str, message: str) -> Decision:
        info: dict[str, Any] = {"key": key.hash, "components": key.components}
        splits = int(origin.metadata.get("num_splits") or 0)
        if self.max_num_splits is not None and splits > self.max_num_splits:  # it runs, and fails as a run would
            reason = f"its foreach started {splits} tasks, more than --max-num-splits={self.max_num_splits}"
            return Decision(None, key, {**info, "decision": "miss", "reason": reason}, "")
        info.update(decision=decision, source=origin.datastore.pathspec)
        if not (self.clone_only and decision == "resumed"):  # --clone-only checks nothing
            stored = origin.metadata.get("external_reads")
            info["reads"] = self.cache.how_reads_counted(origin.datastore.step_name, stored, decision == "resumed")
        return Decision(origin, key, info, message)
