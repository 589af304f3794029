"""``@schedule``, ``@trigger`` and ``@trigger_on_finish``: when a deployed flow should run, in Metaflow.

flowstone has no scheduler: it runs a flow when asked (``python flow.py run``, the Runner, a cron job or CI
pipeline one writes). These decorators are accepted with Metaflow's attributes and checked, recorded with each
run (its record's ``flow_decorators``), listed by ``show``, and a note says so once per run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flowstone.errors import FlowSpecError
from flowstone.flow.flow_decorators import FlowDecorator, make_flow_decorator

__all__ = ["ScheduleDecorator", "TriggerDecorator", "TriggerOnFinishDecorator", "schedule", "trigger",
           "trigger_on_finish"]  # fmt: skip


class _WhenDecorator(FlowDecorator):
    """A decorator saying when a deployed flow runs."""

    def run_note(self, runtime: str) -> str | None:
        return (f"@{self.name} is recorded with the run; flowstone has no scheduler and runs the flow when asked "
                f"(run it from cron or CI when it is due).")  # fmt: skip


class ScheduleDecorator(_WhenDecorator):
    name = "schedule"
    defaults: ClassVar[dict[str, Any]] = {"cron": None, "weekly": False, "daily": True, "hourly": False,
                                          "timezone": None}  # fmt: skip

    def _validate_attributes(self) -> None:
        cron = self.attributes["cron"]
        if cron is not None and (not isinstance(cron, str) or len(cron.split()) not in (5, 6)):
            raise FlowSpecError(f"@schedule(cron=...) must be a cron expression such as '0 3 * * *', got {cron!r}.")


class TriggerDecorator(_WhenDecorator):
    name = "trigger"
    defaults: ClassVar[dict[str, Any]] = {"event": None, "events": [], "options": {}}

    def _validate_attributes(self) -> None:
        if self.attributes["event"] is None and not self.attributes["events"]:
            raise FlowSpecError("@trigger needs event= or events=.")


class TriggerOnFinishDecorator(_WhenDecorator):
    name = "trigger_on_finish"
    defaults: ClassVar[dict[str, Any]] = {"flow": None, "flows": [], "options": {}}

    def _validate_attributes(self) -> None:
        if self.attributes["flow"] is None and not self.attributes["flows"]:
            raise FlowSpecError("@trigger_on_finish needs flow= or flows=.")


schedule = make_flow_decorator(ScheduleDecorator)
trigger = make_flow_decorator(TriggerDecorator)
trigger_on_finish = make_flow_decorator(TriggerOnFinishDecorator)
