"""A flow whose runs share some blobs and own others: `seed` picks what is the run's own."""

import os

from flowstone import FlowSpec, Parameter, step


class MaintenanceFlow(FlowSpec):
    seed = Parameter("seed", default=0, type=int)
    width = Parameter("width", default=3, type=int)

    @step
    def start(self):
        self.shared = b"shared by every run " * 200  # 4 KiB: a blob of its own
        self.own = f"seed {self.seed} ".encode() * 500
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.part = bytes([self.input % 256]) * 3000 + self.own[:100]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.parts = [i.part for i in inputs]
        self.own = inputs[0].own
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FS_TEST_FAIL_AT") == "end":
            raise RuntimeError("planned failure in end")
        self.total = sum(len(p) for p in self.parts) + len(self.own)


if __name__ == "__main__":
    MaintenanceFlow()
