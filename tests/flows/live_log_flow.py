"""A step whose output can be watched while it runs: it prints a line (and one on stderr), waits until the file
LOG_GATE exists (at most a minute), then prints another line."""

import os
import sys
import time

from flowstone import FlowSpec, step


class LiveLogFlow(FlowSpec):
    @step
    def start(self):
        print("first line, before the gate")
        print("a note on stderr", file=sys.stderr)
        gate, deadline = os.environ.get("LOG_GATE"), time.time() + 60
        while gate and not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.05)  # a step at work
        print("second line, after the gate")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LiveLogFlow()
