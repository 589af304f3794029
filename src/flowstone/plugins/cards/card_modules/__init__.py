"""Metaflow's module path ``metaflow.plugins.cards.card_modules``: what custom card packages import."""

from flowstone.cards.card import MetaflowCard, MetaflowCardComponent

__all__ = ["MetaflowCard", "MetaflowCardComponent"]
