"""Resume: a new run that reuses the successful tasks of an earlier (origin) run instead of running them again.

A task is a candidate when the origin run has a successful task of the same step, at the same foreach position,
whose inputs were themselves reused; it is reused if its cache key is unchanged (``--clone-only``: always). On a
loop, each round's task follows the previous round's, so a run that failed in round 6 is resumed by reusing
rounds 1 to 5 and running round 6 again. The tasks of a @parallel step are reused all together or not at all.
Reusing clones the task's records into the new run: its artifacts by reference (no data is copied), its metadata
and logs, with ``origin_pathspec`` pointing back. ``resume STEP`` runs STEP
and everything after it again, reusing only what lies before it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.errors import FlowstoneException, IntegrityError
from flowstone.flow.artifacts import PARALLEL_VAR
from flowstone.flow.graph import SWITCH, FlowGraph
from flowstone.flow.include_file import IncludedFile
from flowstone.runtime.scheduler import TaskPlan

__all__ = ["OriginTask", "ResumeIndex"]


class OriginTask(NamedTuple):
    datastore: TaskDataStore
    metadata: dict[str, Any]


def _reachable_from(graph: FlowGraph, step: str) -> set[str]:
    seen, stack = set(), [step]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(graph[name].out_funcs)
    return seen


class ResumeIndex:
    """The origin run's successful tasks, found by step, foreach position and inputs."""

    def __init__(self, fds: FlowDataStore, graph: FlowGraph, origin_run_id: str, resume_step: str | None) -> None:
        record = fds.load_run_record(origin_run_id)
        if record is None:
            raise FlowstoneException(f"Cannot resume: run {fds.flow_name}/{origin_run_id} does not exist.")
        self._recorded_parameters: dict[str, Any] = record.get("parameters") or {}
        self._fds = fds
        if resume_step is not None and resume_step not in graph:
            raise FlowstoneException(f"Cannot resume from '{resume_step}': the flow has no such step.")
        self.origin_run_id = origin_run_id
        self.graph = graph
        self.rerun_steps = _reachable_from(graph, resume_step) if resume_step else set()
        self._tasks: dict[tuple[str, tuple[int, ...], tuple[str, ...]], OriginTask] = {}
        #: origin tasks whose records are damaged: they are not cloned (the run says so once)
        self.damaged: list[str] = []
        for datastore in fds.get_task_datastores(run_id=origin_run_id):
            try:
                metadata = datastore.load_metadata()
            except IntegrityError as exc:
                self.damaged.append(f"{datastore.pathspec} ({exc})")
                continue
            if not metadata.get("attempt_ok", False):
                continue
            self._tasks[self._key(datastore.step_name, metadata)] = OriginTask(datastore, metadata)
        self.clone_map: dict[str, str] = {}  # new "step/task_id" -> origin "step/task_id"

    def _key(self, step: str, metadata: dict[str, Any]) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
        indexes = tuple(int(f["index"]) for f in metadata.get("foreach_stack", []))
        inputs = tuple(sorted(p.split("/", 1)[1] for p in metadata.get("input_paths", [])))
        return step, indexes, inputs

    def find(self, plan: TaskPlan) -> OriginTask | None:
        """The origin task to reuse for ``plan``, or None if the task must run."""
        if plan.step_name in self.rerun_steps:
            return None
        if not all(p in self.clone_map for p in plan.input_paths):
            return None  # an input ran anew: this task must run too
        origin_inputs = tuple(sorted(self.clone_map[p] for p in plan.input_paths))
        origin = self._tasks.get((plan.step_name, tuple(f.index for f in plan.foreach_stack), origin_inputs))
        if origin is None or not self._same_transition(plan.step_name, origin.metadata):
            return None
        return origin

    def _same_transition(self, step: str, metadata: dict[str, Any]) -> bool:
        """Reuse a task only if the flow still goes where it went (the graph may have changed since): a switch to
        one of its cases, any other step to all of its next steps, with the same foreach or @parallel."""
        node = self.graph[step]
        went = list(metadata.get("next_steps") or [])
        if step == self.graph.end_step:
            expected_steps = went == []
        elif node.type == SWITCH:
            expected_steps = len(went) == 1 and went[0] in node.out_funcs
        else:
            expected_steps = went == node.out_funcs
        foreach_var = PARALLEL_VAR if node.parallel_foreach else node.foreach_param
        return expected_steps and metadata.get("foreach_var") == foreach_var

    def parameters(self, names: list[str]) -> dict[str, Any]:
        """The origin run's parameter values: from its start task, else as recorded when the run began."""
        start = next((t for k, t in self._tasks.items() if k[0] == self.graph.start_step), None)
        if start is None:
            return {name: self._recorded_parameter(name) for name in names}
        return dict(start.datastore.load_artifacts([n for n in names if n in start.datastore]))

    def _recorded_parameter(self, name: str) -> Any:
        value = self._recorded_parameters.get(name)
        if isinstance(value, dict) and "included_file" in value:  # an IncludeFile: its content is in the store
            raw = bytes(self._fds.ca_store.load_blob(value["key"]))
            return IncludedFile(value["included_file"], raw, value["is_text"], value["encoding"]).value
        return value
