"""HTML building blocks of cards: escaping, Markdown, embedded JSON, and the page every built-in card is.

A card page is one self-contained HTML document: its CSS and script are inline, images are data URIs, and the
chart library (Vega, Vega-Lite, vega-embed, shipped in ``static/``) is inlined only into pages that hold a
chart. Viewing a card fetches nothing from the network.
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

__all__ = ["CHART_MARK", "attr", "embedded_json", "esc", "markdown", "page", "static_text"]

#: Present in a fragment that holds a chart: the page then carries the chart library.
CHART_MARK = 'class="fs-vega-view"'


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def attr(value: Any) -> str:
    """A quoted attribute value."""
    return f'"{esc(value)}"'


def embedded_json(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` element (nothing in it can close the element)."""
    text = json.dumps(value, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.lru_cache(maxsize=1)
def _markdown_renderer() -> Any:
    from markdown_it import MarkdownIt  # installed with rich, which flowstone requires

    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")


def markdown(text: str) -> str:
    return str(_markdown_renderer().render(text or ""))


@functools.lru_cache(maxsize=8)
def static_text(name: str) -> str:
    """A file shipped in ``flowstone/cards/static``."""
    from importlib import resources

    return resources.files("flowstone.cards").joinpath("static").joinpath(name).read_text(encoding="utf-8")


#: The chart library, in the order the files must load.
CHART_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


def page(title: str, body: str, reload_token: str = "[METAFLOW_RELOAD_TOKEN]") -> str:
    """A whole card page around ``body``."""
    charts = ""
    if CHART_MARK in body:
        charts = "".join(f"<script>{static_text(name)}</script>" for name in CHART_SCRIPTS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{static_text('card.css')}</style>{charts}</head>"
        f'<body><main class="fs-card">{body}</main>'
        f"<script>window.METAFLOW_RELOAD_TOKEN = {json.dumps(reload_token)};</script>"
        f"<script>{static_text('card.js')}</script></body></html>"
    )
