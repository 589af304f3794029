"""Metaflow's module path ``metaflow.plugins.cards.card_client``."""

from flowstone.cards.reading import Card, CardContainer, get_cards

__all__ = ["Card", "CardContainer", "get_cards"]
