"""Switches as a user writes them: a case picked by a parameter, a loop through two steps inside a foreach (each
item goes round as often as it is long), and cases meeting in 'end' without a join. FAIL_ROUND=<item>:<round>
fails that round (in the first run only, not in a resume)."""

import os

from flowstone import FlowSpec, Parameter, current, step


class SwitchFlow(FlowSpec):
    mode = Parameter("mode", default="count")

    @step
    def start(self):
        self.words = ["a", "bb", "ccc"]
        self.next({"count": self.fan, "skip": self.skipped}, condition="mode")

    @step
    def skipped(self):
        self.lengths = []
        self.next(self.end)

    @step
    def fan(self):
        self.next(self.begin, foreach="words")

    @step
    def begin(self):
        self.rounds = 0
        self.next(self.work)

    @step
    def work(self):
        self.rounds += 1
        if os.environ.get("FAIL_ROUND") == f"{self.input}:{self.rounds}" and current.origin_run_id is None:
            raise RuntimeError(f"planned failure in round {self.rounds} of {self.input}")
        self.next(self.check)

    @step
    def check(self):
        self.state = "again" if self.rounds < len(self.input) else "done"
        self.next({"again": self.work, "done": self.finish}, condition="state")

    @step
    def finish(self):
        self.length = self.rounds
        self.next(self.join)

    @step
    def join(self, inputs):
        self.lengths = [i.length for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.result = self.lengths


if __name__ == "__main__":
    SwitchFlow()
