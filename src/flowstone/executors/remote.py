"""Tasks that run on other machines: what such a task carries, and the executors that run them.

A local executor runs a task by forking a process that has already imported the flow. A remote one (Ray) runs
it in an interpreter on another machine, which has imported nothing: the task says what to fetch there first
(``prepare``, run once per worker process and cached per node) and what it needs from the machine
(``resources``). Executors know nothing of flows: the runtime builds these objects.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from flowstone.executors.base import Executor

__all__ = ["GangSlot", "RemoteExecutor", "RemoteTask", "TaskResources", "Warmup"]

#: Runs once in a node's fork server, before it forks tasks (importing the flow there, say).
Warmup = Callable[[], Any]


class TaskResources(NamedTuple):
    """What one task asks of the machine it runs on."""

    cpu: float = 1.0
    memory_bytes: int = 0  # 0: no reservation
    gpu: int = 0

    def describe(self) -> str:
        parts = [f"cpu={self.cpu:g}"]
        if self.memory_bytes:
            parts.append(f"memory={self.memory_bytes / 2**20:g} MiB")
        if self.gpu:
            parts.append(f"gpu={self.gpu}")
        return ", ".join(parts)


class GangSlot(NamedTuple):
    """One task's place in a gang: tasks that must run at the same time (a @parallel step's), reserved together
    with :meth:`RemoteExecutor.reserve_gang`. ``main_address`` is the address of the machine of task 0."""

    gang_id: str
    position: int
    size: int
    main_address: str


@dataclass(frozen=True)
class RemoteTask:
    """A task function that can run on another machine.

    ``run`` is the task itself (it runs in a process of its own on the node). ``prepare`` runs in the node's
    worker process before the first task with the same ``prepare_key`` and returns a :data:`Warmup` (or None);
    ``environment`` is set for the task on top of the node's own. ``interpreter``, if given, is the Python the
    task runs in (a step's own environment); by default, the worker's. ``gang``: the task's place in a gang
    reserved beforehand. Calling the object runs ``run`` here.
    """

    run: Callable[[], Any]
    prepare: Callable[[], Warmup | None] | None = None
    prepare_key: str = ""
    resources: TaskResources = field(default_factory=TaskResources)
    environment: dict[str, str] = field(default_factory=dict)
    interpreter: str | None = None
    gang: GangSlot | None = None

    def __call__(self) -> Any:
        return self.run()


class RemoteExecutor(Executor):
    """An executor whose tasks run in other interpreters, possibly on other machines.

    It takes :class:`RemoteTask` objects (plain picklable callables are accepted too and need nothing
    prepared). The ``pid`` it reports is a number it gives each task: the real process is elsewhere.
    """

    #: Recorded with the run (``runtime:<name>``).
    runtime_name: ClassVar[str]

    @property
    @abstractmethod
    def node_count(self) -> int:
        """How many machines tasks may run on."""

    @abstractmethod
    def unsatisfiable(self, resources: TaskResources) -> str | None:
        """Why no machine could ever run a task asking for ``resources``, or None if one could."""

    @abstractmethod
    def pin_to_this_machine(self) -> None:
        """Run every task on the machine of the caller (for datastores only this machine sees)."""

    @abstractmethod
    def reserve_gang(self, gang_id: str, size: int, resources: TaskResources) -> tuple[GangSlot, ...]:
        """Reserve room for ``size`` tasks asking for ``resources`` each, to run at the same time, and say where
        each will run. If the cluster cannot hold them, the slots are still returned and each task submitted in
        one fails at submit with the reason; the reservation ends once all of its tasks have exited."""
