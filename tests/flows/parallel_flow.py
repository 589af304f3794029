"""A @parallel step: NODES tasks started together. FAIL_NODE=<index> fails that node in its first FAIL_TIMES
attempts (default 1); with PEERS_WAIT set, the other nodes of a first attempt wait for it, as distributed code
waits for a missing peer; with PEERS_FIRST set, the failing node of a first attempt fails only once the others are
done, so that its failure stops none of them."""

import os
import time

from flowstone import FlowSpec, Parameter, current, parallel, retry, step


def _wait_until_peers_done(node, deadline=60.0):
    """Until the run's datastore shows the other nodes of this gang done (a test's setup; at most ``deadline``)."""
    from flowstone import namespace

    namespace(None)
    control = node.control_task_id
    peers = [f"{current.flow_name}/{current.run_id}/{current.step_name}/{task_id}"
             for task_id in [control] + [f"{control}_node_{i}" for i in range(1, node.num_nodes)]
             if task_id != current.task_id]  # fmt: skip
    ends = time.monotonic() + deadline
    while not all(_done(pathspec) for pathspec in peers):
        if time.monotonic() > ends:
            raise RuntimeError(f"the other nodes were not done within {deadline} s")
        time.sleep(0.01)


def _done(pathspec):
    from flowstone import Task

    try:
        return Task(pathspec).finished
    except Exception:  # not there yet
        return False


class ParallelFlow(FlowSpec):
    nodes = Parameter("nodes", default=3)

    @step
    def start(self):
        self.base = 10
        self.next(self.train, num_parallel=self.nodes)

    @retry(times=1)
    @parallel
    @step
    def train(self):
        node = current.parallel
        failing = os.environ.get("FAIL_NODE")
        if failing == str(node.node_index) and current.retry_count < int(os.environ.get("FAIL_TIMES", "1")):
            if os.environ.get("PEERS_FIRST") and current.retry_count == 0:
                _wait_until_peers_done(node)
            raise RuntimeError(f"node {node.node_index} failed")
        if failing is not None and os.environ.get("PEERS_WAIT") and current.retry_count == 0:
            time.sleep(60)
        self.seen = (
            node.node_index,
            node.num_nodes,
            node.control_task_id,
            node.main_ip,
            current.is_parallel,
            self.input,
            current.task_id,
        )
        self.value = self.base + node.node_index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = [i.seen for i in inputs]
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.result = {"total": self.total, "seen": self.seen, "outside": (current.is_parallel, current.parallel)}


if __name__ == "__main__":
    ParallelFlow()
