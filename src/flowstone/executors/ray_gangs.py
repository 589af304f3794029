"""Gangs on Ray: the tasks of a @parallel step start together, each in a bundle of one placement group.

A placement group reserves a bundle of resources per task before any of them starts, so the tasks never wait
for each other behind other work, and tells which node holds each bundle: task 0's node is the gang's main
address (``current.parallel.main_ip``), known before the tasks are submitted. Bundles are spread over the
nodes where Ray can; a run pinned to this machine (a local datastore) keeps them here. A gang the cluster can
never hold (its nodes together have too little room) is refused at once; one that waits for busy resources
waits at most :data:`PLACEMENT_TIMEOUT` seconds. The group is removed once all of its tasks have exited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowstone._interrupt import interruptible
from flowstone.executors.remote import GangSlot, TaskResources

__all__ = ["PLACEMENT_TIMEOUT", "RayGangs"]

#: How long a gang may wait for room on a busy cluster before its tasks fail.
PLACEMENT_TIMEOUT = 600.0
#: A sliver of the ``node:<address>`` resource every node has: asking for it keeps a bundle on that node.
_NODE_SHARE = 0.001


@dataclass
class _Gang:
    group: Any  # ray.util.placement_group.PlacementGroup, or None if the gang could not be placed
    waiting: int  # tasks of the gang that have not exited yet
    problem: str | None = None


class RayGangs:
    """The placement groups of the gangs of one run."""

    def __init__(self) -> None:
        self._gangs: dict[str, _Gang] = {}

    def reserve(self, gang_id: str, size: int, resources: TaskResources, nodes: list[dict[str, Any]],
                pinned_address: str | None) -> tuple[GangSlot, ...]:  # fmt: skip
        """Reserve ``size`` bundles of ``resources`` on ``nodes`` (the alive ones, or the pinned one)."""
        from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group

        bundle = _bundle(resources, pinned_address)
        room = sum(_fits(node["Resources"], bundle) for node in nodes)
        if room < size:
            problem = (f"its {size} @parallel tasks ask for {resources.describe()} each, and the Ray cluster "
                       f"has room for {room} such tasks at once: lower num_parallel or the step's resources, or "
                       f"add nodes to the cluster")  # fmt: skip
            return self._refused(gang_id, size, problem)
        group = placement_group([dict(bundle) for _ in range(size)], strategy="SPREAD")
        try:
            with interruptible():  # Ctrl-C during a long wait for room stops the run
                placed = group.wait(timeout_seconds=PLACEMENT_TIMEOUT)
        except KeyboardInterrupt:
            remove_placement_group(group)
            raise
        if not placed:
            remove_placement_group(group)
            problem = f"the Ray cluster had no room for its {size} @parallel tasks for {PLACEMENT_TIMEOUT:g} s"
            return self._refused(gang_id, size, problem)
        self._gangs[gang_id] = _Gang(group, size)
        node_of_bundle = placement_group_table(group)["bundles_to_node_id"]
        addresses = {node["NodeID"]: node["NodeManagerAddress"] for node in nodes}
        main = addresses.get(node_of_bundle[0], "127.0.0.1")
        return tuple(GangSlot(gang_id, index, size, main) for index in range(size))

    def _refused(self, gang_id: str, size: int, problem: str) -> tuple[GangSlot, ...]:
        self._gangs[gang_id] = _Gang(None, size, problem)
        return tuple(GangSlot(gang_id, index, size, "") for index in range(size))

    def problem(self, slot: GangSlot) -> str | None:
        """Why a task of this gang cannot run (None: it can)."""
        gang = self._gangs.get(slot.gang_id)
        return "its gang was not reserved" if gang is None else gang.problem

    def strategy(self, slot: GangSlot) -> Any:
        """The Ray scheduling strategy that runs the task in its bundle."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = self._gangs[slot.gang_id].group
        return PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=slot.position)

    def task_exited(self, slot: GangSlot) -> None:
        """Note a task of the gang exited; the last one releases the reservation."""
        gang = self._gangs.get(slot.gang_id)
        if gang is None:
            return
        gang.waiting -= 1
        if gang.waiting <= 0:
            del self._gangs[slot.gang_id]
            if gang.group is not None:
                from ray.util.placement_group import remove_placement_group

                remove_placement_group(gang.group)


def _bundle(resources: TaskResources, pinned_address: str | None) -> dict[str, float]:
    bundle: dict[str, float] = {"CPU": resources.cpu}
    if resources.gpu:
        bundle["GPU"] = resources.gpu
    if resources.memory_bytes:
        bundle["memory"] = resources.memory_bytes
    if pinned_address is not None:
        bundle[f"node:{pinned_address}"] = _NODE_SHARE
    return bundle


def _fits(have: dict[str, float], bundle: dict[str, float]) -> int:
    """How many bundles a node with ``have`` holds at most."""
    counts = [int(have.get(name, 0) // amount) for name, amount in bundle.items() if amount > 0]
    return min(counts) if counts else 0
