"""Metaflow's module path ``metaflow.plugins.cards.card_modules.components``."""

from flowstone.cards.components import (
           Artifact,
           Error,
           JSONViewer,
           Markdown,
           PythonCode,
           Table,
           UserComponent,
           YAMLViewer,
)
from flowstone.cards.media import EventsTimeline, Image, ProgressBar, ValueBox, VegaChart

__all__ = ["Artifact", "Error", "EventsTimeline", "Image", "JSONViewer", "Markdown", "ProgressBar", "PythonCode",
           "Table", "UserComponent", "ValueBox", "VegaChart", "YAMLViewer"]  # fmt: skip
