"""Run each task as a Ray task on a Ray cluster (``pip install 'flowstone[ray]'``).

The runner keeps its scheduling loop; this executor only changes where a task runs. Each task becomes one Ray
task with Ray's own retries off (flowstone's ``@retry`` is the one retry mechanism), placed by the task's
:class:`~flowstone.executors.remote.TaskResources` (``num_cpus``, ``memory``, ``num_gpus``). On the node, the
task runs in a process forked from a per-worker fork server (see :mod:`flowstone.executors.ray_node`); it reads
and writes the datastore itself, and only its output lines and its outcome come back, as the items of a Ray
streaming generator. Cancelling the Ray task (``kill``) kills the task's process group on the node.

Ray is imported when the executor is created, never at import time.
"""

from __future__ import annotations

import pickle
import signal
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from flowstone._interrupt import interruptible
from flowstone.errors import FlowstoneException
from flowstone.executors.base import Event, Exited, OutputLine
from flowstone.executors.ray_gangs import RayGangs
from flowstone.executors.remote import GangSlot, RemoteExecutor, RemoteTask, TaskResources

__all__ = ["RayExecutor", "ray_options"]

#: How long one call into Ray may block before Python gets control back (so Ctrl-C is seen promptly).
_SLICE_SECONDS = 0.5


@dataclass
class _Running:
    key: Hashable
    pid: int
    generator: Any  # ray.ObjectRefGenerator
    gang: GangSlot | None = None
    killed: bool = False


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise FlowstoneException(
            f"Running tasks on Ray needs the 'ray' package ({exc}). Install it with: pip install 'flowstone[ray]'."
        ) from exc
    return ray


def ray_options(resources: TaskResources) -> dict[str, Any]:
    """The Ray task options for a task asking for ``resources`` (Ray's retries off: @retry decides)."""
    options: dict[str, Any] = {"num_cpus": resources.cpu, "num_gpus": resources.gpu, "max_retries": 0}
    if resources.memory_bytes:
        options["memory"] = resources.memory_bytes
    return options


def _node_task(*args: Any) -> Any:
    """The Ray task: run one task on the node and stream its output back (defined at module level, so Ray
    ships it to workers by reference)."""
    from flowstone.executors.ray_node import run_on_node

    yield from run_on_node(*args)


def _gpu_ids() -> list[Any]:
    import ray

    return list(ray.get_gpu_ids())


class RayExecutor(RemoteExecutor):
    """Tasks as Ray tasks on the cluster at ``address`` (None: the cluster Ray finds, or a new local one)."""

    runtime_name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self._ray = ray = _import_ray()
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            try:
                ray.init(address=address, log_to_driver=False, logging_level="WARNING")
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                where = f"at {address}" if address else "(no address given: FLOWSTONE_RAY_ADDRESS or --ray-address)"
                raise FlowstoneException(f"Cannot connect to the Ray cluster {where}: {exc}") from exc
        self._remote = ray.remote(num_returns="streaming", max_retries=0)(_node_task)
        self._nodes = self._alive_nodes()
        self._strategy: Any = None
        self._gangs = RayGangs()
        self._tasks: dict[Hashable, _Running] = {}
        self._events: list[Event] = []  # reported by the next wait (tasks refused at submit)
        self._next_pid = 1

    # -- the cluster ------------------------------------------------------------------------------
    def _alive_nodes(self) -> list[dict[str, Any]]:
        return [node for node in self._ray.nodes() if node.get("Alive")]

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    def unsatisfiable(self, resources: TaskResources) -> str | None:
        wanted = {"CPU": resources.cpu, "memory": resources.memory_bytes, "GPU": resources.gpu}
        nodes: list[dict[str, Any]] = []
        for refresh in (False, True):  # nodes may have joined since we last looked
            if refresh:
                self._nodes = self._alive_nodes()
            nodes = [n for n in self._nodes if self._strategy is None or n["NodeID"] == self._strategy.node_id]
            if any(all(n["Resources"].get(name, 0) >= amount for name, amount in wanted.items()) for n in nodes):
                return None
        where = "this machine's node" if self._strategy is not None else "any node"
        if not nodes:
            return f"a task asks for {resources.describe()}, and {where} of the Ray cluster is gone."
        have = max((n["Resources"] for n in nodes), key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)))
        largest = TaskResources(have.get("CPU", 0), int(have.get("memory", 0)), int(have.get("GPU", 0)))
        return (
            f"a task asks for {resources.describe()}, which {where} of the Ray cluster cannot give "
            f"(the largest has {largest.describe()})."
        )

    def pin_to_this_machine(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node_id = self._ray.get_runtime_context().get_node_id()
        self._strategy = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)

    def reserve_gang(self, gang_id: str, size: int, resources: TaskResources) -> tuple[GangSlot, ...]:
        self._nodes = self._alive_nodes()
        pinned = None if self._strategy is None else self._strategy.node_id
        nodes = [n for n in self._nodes if pinned is None or n["NodeID"] == pinned]
        address = nodes[0]["NodeManagerAddress"] if pinned is not None and nodes else None
        return self._gangs.reserve(gang_id, size, resources, nodes, address)

    # -- starting ---------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._tasks) + sum(isinstance(e, Exited) for e in self._events)

    def submit(self, key: Hashable, fn: Callable[[], Any], time_limit: float | None = None) -> int:
        task = fn if isinstance(fn, RemoteTask) else RemoteTask(fn)
        pid, self._next_pid = self._next_pid, self._next_pid + 1
        problem = self.unsatisfiable(task.resources) or (self._gangs.problem(task.gang) if task.gang else None)
        if problem is not None:
            self._events.append(OutputLine(key, "stderr", f"Cannot run on Ray: {problem}".encode(), pid))
            self._events.append(Exited(key, pid, 1, None))
            if task.gang is not None:
                self._gangs.task_exited(task.gang)
            return pid
        payload = pickle.dumps(task.run, protocol=pickle.HIGHEST_PROTOCOL)
        prepare = pickle.dumps(task.prepare, protocol=pickle.HIGHEST_PROTOCOL) if task.prepare else None
        options = ray_options(task.resources)
        if task.gang is not None:  # in its bundle (which a pinned run keeps on this machine)
            options["scheduling_strategy"] = self._gangs.strategy(task.gang)
        elif self._strategy is not None:
            options["scheduling_strategy"] = self._strategy
        gpu_ids = _gpu_ids if task.resources.gpu else None
        environment = dict(task.environment)
        if not task.resources.gpu:
            environment["CUDA_VISIBLE_DEVICES"] = ""  # a task that asked for no GPU sees none
        generator = self._remote.options(**options).remote(
            payload, prepare, task.prepare_key, time_limit, environment, gpu_ids
        )
        self._tasks[key] = _Running(key, pid, generator, task.gang)
        return pid

    # -- waiting ----------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> list[Event]:
        events, self._events = self._events, []
        if events or not self._tasks:
            return events
        deadline = None if timeout is None else time.monotonic() + timeout
        while not events:
            left = _SLICE_SECONDS if deadline is None else min(_SLICE_SECONDS, deadline - time.monotonic())
            by_generator = {id(t.generator): t for t in self._tasks.values()}
            with interruptible():  # only with no events in hand: none is lost
                ready, _ = self._ray.wait([t.generator for t in self._tasks.values()], num_returns=1,
                                          timeout=max(left, 0.0), fetch_local=True)  # fmt: skip
            for generator in ready:
                self._drain(by_generator[id(generator)], events)
            if deadline is not None and time.monotonic() >= deadline:
                break
        return events

    def _drain(self, task: _Running, events: list[Event]) -> None:
        """Take every item the task's generator has ready."""
        ray = self._ray
        generator = task.generator
        while task.key in self._tasks:
            try:
                if generator.is_finished():  # ended without reporting its exit: Ray lost it
                    self._ended(task, events, 1, None, "Ray ended the task without reporting its exit.")
                    return
                if not generator.next_ready():
                    return
                item = ray.get(next(generator))
            except Exception as exc:
                self._failed(task, exc, events)
                return
            if item[0] == "out":
                events.extend(OutputLine(task.key, stream, line, task.pid) for stream, line in item[1])
            else:
                _, returncode, result, timed_out, _host, _node_pid = item
                self._ended(task, events, returncode, result, None, timed_out)

    def _failed(self, task: _Running, exc: Exception, events: list[Event]) -> None:
        ray_exceptions = self._ray.exceptions
        if task.killed or isinstance(exc, ray_exceptions.TaskCancelledError):
            self._ended(task, events, -signal.SIGKILL, None)
            return
        if isinstance(exc, ray_exceptions.RayTaskError):  # our code on the node raised: show its traceback
            message = str(exc)
        elif isinstance(exc, (ray_exceptions.WorkerCrashedError, ray_exceptions.NodeDiedError)):
            message = f"The Ray worker running the task died: {exc}"
        else:
            message = f"Ray could not run the task: {type(exc).__name__}: {exc}"
        self._ended(task, events, 1, None, message)

    def _ended(self, task: _Running, events: list[Event], returncode: int, result: Any, message: str | None = None,
               timed_out: bool = False) -> None:  # fmt: skip
        del self._tasks[task.key]
        if task.gang is not None:
            self._gangs.task_exited(task.gang)
        if message:
            events.extend(OutputLine(task.key, "stderr", line.encode(), task.pid) for line in message.splitlines())
        events.append(Exited(task.key, task.pid, returncode, result, timed_out))

    # -- stopping ---------------------------------------------------------------------------------
    def kill(self, key: Hashable) -> None:
        task = self._tasks.get(key)
        if task is not None and not task.killed:
            task.killed = True
            self._ray.cancel(task.generator)

    def shutdown(self) -> None:
        for key in list(self._tasks):
            self.kill(key)
        while self._tasks:
            self.wait(1.0)
        self._events.clear()
        if self._owns_connection:
            self._ray.shutdown()
