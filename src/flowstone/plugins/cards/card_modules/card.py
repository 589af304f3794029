"""Metaflow's module path ``metaflow.plugins.cards.card_modules.card``."""

from flowstone.cards.card import MetaflowCard, MetaflowCardComponent

__all__ = ["MetaflowCard", "MetaflowCardComponent"]
