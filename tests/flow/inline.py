"""Run a flow class in this process (InlineExecutor, memory storage): fast tests of flow semantics."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from flowstone.datastore import FlowDataStore, TaskDataStore
from flowstone.executors.inline import InlineExecutor
from flowstone.flow.config import config_namespace
from flowstone.flow.configure import ensure_configured
from flowstone.flow.parameters import resolve_parameter_values
from flowstone.runtime.console import Console
from flowstone.runtime.run_loop import RunLoop
from flowstone.runtime.run_record import RunOptions, RunOutcome
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage
from tests.runtime.helpers import task_order


@dataclass
class InlineRun:
    outcome: RunOutcome
    fds: FlowDataStore
    output: str

    def tasks(self, step: str) -> list[TaskDataStore]:
        stores = self.fds.get_task_datastores(run_id=self.outcome.run_id, steps=[step], allow_not_done=True)
        return sorted(stores, key=lambda t: task_order(t.task_id))

    def task(self, step: str) -> TaskDataStore:
        (task,) = self.tasks(step)
        return task

    def exception(self, step: str) -> dict[str, Any]:
        return self.task(step).load_metadata(["exception"])["exception"]  # type: ignore[no-any-return]


def run_inline(flow_cls: type, params: dict[str, Any] | None = None, storage: MemoryStorage | None = None,
               **options: Any) -> InlineRun:  # fmt: skip
    fds = FlowDataStore(flow_cls.__name__, storage=storage or MemoryStorage(), settings=Settings())
    out = io.StringIO()
    ensure_configured(flow_cls, "tester")  # configs read (their defaults) and applied, as the command line does
    values = resolve_parameter_values(flow_cls._get_parameters(), params or {}, flow_cls.__name__, "tester",
                                      config_namespace(flow_cls))  # fmt: skip
    loop = RunLoop(flow_cls, fds, InlineExecutor(), RunOptions(**options), Console(stream=out, live=False))
    outcome = loop.run(values)
    return InlineRun(outcome, fds, out.getvalue())
