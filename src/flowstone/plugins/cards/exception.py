"""Metaflow's module path for card exceptions: ``from metaflow.plugins.cards.exception import ...``."""

from flowstone.cards.errors import (
    CardNotPresentException,
    ComponentOverwriteNotSupportedException,
    IncorrectArgumentException,
    IncorrectPathspecException,
)

__all__ = [
    "CardNotPresentException",
    "ComponentOverwriteNotSupportedException",
    "IncorrectArgumentException",
    "IncorrectPathspecException",
]
