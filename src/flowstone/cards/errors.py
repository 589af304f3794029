"""What looking up cards raises."""

from __future__ import annotations

from flowstone.errors import FlowstoneException

__all__ = ["CardNotPresentException"]


class CardNotPresentException(FlowstoneException):
    """No card matches what was asked for."""

    metaflow_name = "metaflow.plugins.cards.exception.CardNotPresentException"
    headline = "Card not found in datastore"

    def __init__(self, pathspec: str, card_type: str | None = None, card_id: str | None = None) -> None:
        what = f"Card with id '{card_id}'" if card_id else f"Card of type '{card_type}'" if card_type else "Card"
        super().__init__(f"{what} not found for pathspec {pathspec}.")
