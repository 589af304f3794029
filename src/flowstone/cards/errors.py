"""What cards raise (Metaflow's exception names, under flowstone's root)."""

from __future__ import annotations

from flowstone.errors import FlowstoneException

__all__ = [
    "CardNotPresentException",
    "ComponentOverwriteNotSupportedException",
    "IncorrectArgumentException",
    "IncorrectPathspecException",
]


class CardNotPresentException(FlowstoneException):
    """No card matches what was asked for."""

    metaflow_name = "metaflow.plugins.cards.exception.CardNotPresentException"
    headline = "Card not found in datastore"

    def __init__(self, pathspec: str, card_type: str | None = None, card_id: str | None = None,
                 card_hash: str | None = None) -> None:  # fmt: skip
        what = (f"Card with hash '{card_hash}'" if card_hash else f"Card with id '{card_id}'" if card_id
                else f"Card of type '{card_type}'" if card_type else "Card")  # fmt: skip
        super().__init__(f"{what} not found for pathspec {pathspec}. A task has cards when its step has @card "
                         "(or the run was started with --with card); 'card list' shows what it has.")  # fmt: skip


class IncorrectArgumentException(FlowstoneException):
    """``get_cards`` was given something other than a Task or a task pathspec."""

    metaflow_name = "metaflow.plugins.cards.exception.IncorrectArgumentException"
    headline = "get_cards needs a Task or a task pathspec"

    def __init__(self, obj_type: type) -> None:
        super().__init__(f"get_cards takes a Task or a pathspec 'Flow/run_id/step/task_id', not a {obj_type.__name__}.")


class IncorrectPathspecException(FlowstoneException):
    """A pathspec given to ``get_cards`` does not name a task."""

    metaflow_name = "metaflow.plugins.cards.exception.IncorrectPathspecException"
    headline = "A task pathspec is needed"

    def __init__(self, pathspec: str) -> None:
        super().__init__(f"'{pathspec}' is not a task pathspec: write it as 'Flow/run_id/step/task_id'.")


class ComponentOverwriteNotSupportedException(FlowstoneException):
    """A component id already in a card was given to another component."""

    metaflow_name = "metaflow.plugins.cards.exception.ComponentOverwriteNotSupportedException"
    headline = "Component overwrite is not supported"

    def __init__(self, component_id: str, card_id: str | None, card_type: str) -> None:
        super().__init__(f"The @card(type={card_type!r}, id={card_id!r}) already has a component with id "
                         f"{component_id!r}; replace the card's components as a whole with "
                         f"current.card[ID] = [components] instead.")  # fmt: skip
