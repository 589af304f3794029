"""Metaflow's module path ``metaflow.plugins.cards.card_modules.basic``: the built-in card types."""

from flowstone.cards.builtin_cards import BlankCard, DefaultCard, ErrorCard, HTMLCard, PageComponent

__all__ = ["BlankCard", "DefaultCard", "ErrorCard", "HTMLCard", "PageComponent"]
