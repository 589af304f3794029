"""Metaflow decorators that name services flowstone does not drive: compute and secrets."""

import os

from flowstone import FlowSpec, kubernetes, resources, secrets, step

SECRETS_FILE = os.environ.get("FS_TEST_SECRETS_FILE", "missing.json")


class DropInFlow(FlowSpec):
    @kubernetes(cpu=2, memory=8192, image="python:3.11", node_selector="pool=gpu")
    @step
    def start(self):
        self.ran_on = os.uname().nodename
        self.next(self.secret_step)

    @resources(cpu=4)
    @secrets(sources=[f"json-file.{SECRETS_FILE}", {"type": "inline", "options": {"env_vars": {"MODE": "test"}}}])
    @step
    def secret_step(self):
        self.password_length = len(os.environ["DB_PASSWORD"])
        self.mode = os.environ["MODE"]
        self.next(self.end)

    @step
    def end(self):
        self.password_in_end = os.environ.get("DB_PASSWORD")


if __name__ == "__main__":
    DropInFlow()
