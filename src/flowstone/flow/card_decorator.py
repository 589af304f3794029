"""``@card``: the step makes a card, an HTML report of its task, when it ends (Metaflow's decorator, its
attributes and defaults). A step may have several, told apart by ``id``. The decorator only declares the card:
the runtime renders and stores it through ``flowstone.cards`` (``runtime/task.py``)."""

from __future__ import annotations

from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.decorators import StepDecorator, make_step_decorator

__all__ = ["CardDecorator", "card"]


class CardDecorator(StepDecorator):
    """``@card(type='default', id=None, options={}, timeout=45, save_errors=True, refresh_interval=5)``."""

    name = "card"
    defaults = {
        "type": "default",
        "options": {},
        "scope": "task",
        "rank": None,
        "timeout": 45,
        "id": None,
        "save_errors": True,
        "customize": False,
        "refresh_interval": 5,
    }
    allow_multiple = True

    def _validate_attributes(self) -> None:
        if not isinstance(self.attributes["type"], str) or not self.attributes["type"]:
            raise FlowSpecError(f"@card(type=...) must name a card type, got {self.attributes['type']!r}.")
        if not isinstance(self.attributes["options"], dict):
            raise FlowSpecError(f"@card(options=...) must be a dict, got {self.attributes['options']!r}.")
        if self.attributes["timeout"] is not None:
            self._require_number("timeout")
        self._require_number("refresh_interval")

    def card_request(self) -> dict[str, Any] | None:
        return dict(self.attributes)


card = make_step_decorator(CardDecorator)
