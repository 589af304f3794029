"""Metaflow's module path for card exceptions: ``from metaflow.plugins.cards.exception import ...``."""

from flowstone.cards.errors import CardNotPresentException

__all__ = ["CardNotPresentException"]
