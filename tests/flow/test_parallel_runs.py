"""@parallel steps in the runtime: ``num_parallel`` tasks with ``current.parallel``, a join over all of them, the
values ``num_parallel`` accepts, and the cache reusing the tasks all together or not at all."""

from __future__ import annotations

import pytest

from flowstone import FlowSpec, Parameter, current, parallel, step
from flowstone.storage.memory import MemoryStorage
from tests.flow.inline import InlineRun, run_inline


class SumFlow(FlowSpec):
    nodes = Parameter("nodes", default=3)

    @step
    def start(self):
        self.next(self.part, num_parallel=self.nodes)

    @parallel
    @step
    def part(self):
        self.share = (current.parallel.node_index + 1) * 10
        self.where = (self.input, current.parallel.num_nodes, current.is_parallel)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.share for i in inputs)
        self.wheres = [i.where for i in inputs]
        self.indexes = [i.index for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def _decisions(run: InlineRun, step: str) -> list[str]:
    return [t.load_metadata(["cache"])["cache"]["decision"] for t in run.tasks(step)]


def test_the_join_receives_every_task_in_node_order() -> None:
    run = run_inline(SumFlow)
    assert run.outcome.ok, run.output
    join = run.task("join")
    assert join["total"] == 60 and join["indexes"] == [0, 1, 2]
    assert join["wheres"] == [(0, 3, True), (1, 3, True), (2, 3, True)]
    assert [t.task_id for t in run.tasks("part")] == ["2", "2_node_1", "2_node_2"]


def test_the_cache_reuses_the_tasks_all_together_or_not_at_all() -> None:
    storage = MemoryStorage()
    first = run_inline(SumFlow, storage=storage)
    again = run_inline(SumFlow, storage=storage)
    assert _decisions(again, "part") == ["hit"] * 3
    # lose the cache entry of one node: the others must not be reused without it
    node_1 = first.tasks("part")[1].load_metadata(["cache"])["cache"]["key"]
    first.fds.save_cache_entry(node_1, {"run_id": "0", "step": "part", "task_id": "9", "attempt": 0})
    partial = run_inline(SumFlow, storage=storage)
    assert partial.outcome.ok and partial.task("join")["total"] == 60
    assert _decisions(partial, "part") == ["miss"] * 3
    more = run_inline(SumFlow, {"nodes": "4"}, storage=storage)
    assert _decisions(more, "part") == ["miss"] * 4 and more.task("join")["total"] == 100


@pytest.mark.parametrize("nodes", ["0", "-2"])
def test_num_parallel_must_be_a_positive_number(nodes: str) -> None:
    run = run_inline(SumFlow, {"nodes": nodes})
    assert not run.outcome.ok
    assert "num_parallel= takes the number of tasks to start (1 or more)" in run.exception("start")["message"]
