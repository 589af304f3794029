"""A flow for the Client API tests: parameters, a foreach, a retry, logs, custom metadata, client objects as
artifacts, and (with FS_TEST_GATE set) a step that waits for the test to let it finish."""

import os
import sys

from flowstone import FlowSpec, Parameter, Run, current, retry, step


class ClientFlow(FlowSpec):
    """Exercises what the client reads."""

    alpha = Parameter("alpha", default=0.5, help="a number")

    @step
    def start(self):
        """Make the items."""
        self.items = ["x", "y", "z"]
        self.big = bytes(range(256)) * 4096  # 1 MiB: a blob of its own
        self.small = "tiny"
        self._secret = "private"
        self.this_run = Run(f"{current.flow_name}/{current.run_id}")
        print("hello from start")
        print("warning from start", file=sys.stderr)
        self._datastore.save_metadata({"custom_metric": 0.95})
        self.next(self.work, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def work(self):
        if self.index == 1 and current.retry_count == 0:
            raise RuntimeError("first attempt of y fails")
        self.result = f"{self.input}-{current.retry_count}"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = [inp.result for inp in inputs]
        self.this_run = inputs[0].this_run
        gate = os.environ.get("FS_TEST_GATE")
        if gate:
            with open(gate + ".started", "w") as f:  # FIFO: blocks until the test opens it
                f.write("started\n")
            with open(gate + ".release") as f:  # FIFO: blocks until the test lets the step go on
                f.read()
        self.next(self.end)

    @step
    def end(self):
        self.run_id_seen = self.this_run.id
        self.summary = {"alpha": self.alpha, "results": self.results}


if __name__ == "__main__":
    ClientFlow()
