"""A flow whose start step waits for a signal: it creates the file $FS_TEST_READY, then waits (at most a minute)
until the file $FS_TEST_GO exists, so a test can break the datastore while a task is running."""

import os
import time
from pathlib import Path

from flowstone import FlowSpec, step


class WaitingFlow(FlowSpec):
    @step
    def start(self):
        Path(os.environ["FS_TEST_READY"]).touch()
        deadline = time.monotonic() + 60
        while not Path(os.environ["FS_TEST_GO"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.value = 1
        self.next(self.end)

    @step
    def end(self):
        print("value", self.value)


if __name__ == "__main__":
    WaitingFlow()
