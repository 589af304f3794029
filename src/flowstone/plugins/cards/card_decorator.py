"""Metaflow's module path ``metaflow.plugins.cards.card_decorator``."""

from flowstone.flow.card_decorator import CardDecorator

__all__ = ["CardDecorator"]
