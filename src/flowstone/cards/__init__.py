"""Cards: HTML reports attached to a task (Metaflow's ``metaflow.cards``).

``@card`` on a step (``flowstone.card``) makes a card when the step ends; the step adds components to it with
``current.card.append(...)``. :func:`get_cards` reads a task's cards; :func:`render_card` renders a card type
for any task, now. See docs/cards.md.
"""

from __future__ import annotations

from flowstone.cards.builtin_cards import BlankCard, DefaultCard, ErrorCard, HTMLCard, PageComponent
from flowstone.cards.card import MetaflowCard, MetaflowCardComponent
from flowstone.cards.components import Artifact, Error, JSONViewer, Markdown, PythonCode, Table, YAMLViewer
from flowstone.cards.errors import CardNotPresentException
from flowstone.cards.media import EventsTimeline, Image, ProgressBar, ValueBox, VegaChart
from flowstone.cards.reading import Card, CardContainer, get_cards
from flowstone.cards.rendering import render_card

__all__ = [
    "Artifact",
    "BlankCard",
    "Card",
    "CardContainer",
    "CardNotPresentException",
    "DefaultCard",
    "Error",
    "ErrorCard",
    "EventsTimeline",
    "HTMLCard",
    "Image",
    "JSONViewer",
    "Markdown",
    "MetaflowCard",
    "MetaflowCardComponent",
    "PageComponent",
    "ProgressBar",
    "PythonCode",
    "Table",
    "ValueBox",
    "VegaChart",
    "YAMLViewer",
    "get_cards",
    "render_card",
]
