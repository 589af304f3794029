"""A flow whose step reads what it learns of its run's settings: directly, through the Client API, and in a
process it starts."""

import subprocess
import sys

from flowstone import FlowSpec, Run, current, step
from flowstone.settings import current_settings

CHILD = "import os; print(os.environ.get('FLOWSTONE_DATASTORE_SYSROOT_LOCAL'))"


class SettingsFlow(FlowSpec):
    @step
    def start(self):
        self.task_root = current_settings().datastore_sysroot_local
        self.client_found = Run(f"{current.flow_name}/{current.run_id}").id
        child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
        self.child_root = child.stdout.strip()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SettingsFlow()
