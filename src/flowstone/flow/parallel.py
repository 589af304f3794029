"""``@parallel``: a step whose tasks start together, as many as the step before asks for with
``self.next(self.step, num_parallel=N)``.

The N tasks run at the same time (so they can talk to each other, as distributed training does), succeed or fail
as one and are retried as one; the join after the step receives all N. In each task, ``current.parallel`` says
how many tasks there are (``num_nodes``), which one this is (``node_index``, 0 for the control task), and the
control task's id and address (``control_task_id``, ``main_ip``). Task ids follow Metaflow's layout: the control
task has an id of its own and the others are ``<control id>_node_<index>``.
"""

from __future__ import annotations

from flowstone.errors import FlowSpecError
from flowstone.flow.decorators import StepDecorator, make_step_decorator

__all__ = ["ParallelDecorator", "parallel"]


class ParallelDecorator(StepDecorator):
    """Marks a step as @parallel; the runtime starts its tasks together (see the module docstring)."""

    name = "parallel"
    is_parallel = True

    def check(self, step_name: str, node_type: str) -> None:
        if node_type == "split-switch":
            raise FlowSpecError("a @parallel step cannot be a switch; add a join step after it.", step_name)
        if node_type in ("split", "foreach", "join"):
            raise FlowSpecError(f"a @parallel step goes to one join step; this step is a {node_type}.", step_name)


parallel = make_step_decorator(ParallelDecorator)
