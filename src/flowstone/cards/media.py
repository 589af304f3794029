"""The card components that show more than text: ``Image``, ``VegaChart``, ``ProgressBar``, ``ValueBox`` and
``EventsTimeline`` (Metaflow's names and arguments)."""

from __future__ import annotations

import re
import time
import traceback
from typing import Any

from flowstone.cards.components import UserComponent, _warn, error_fragment, render_component
from flowstone.cards.html import attr, embedded_json, esc
from flowstone.cards.previews import full_classname, image_data_uri

__all__ = ["EventsTimeline", "Image", "ProgressBar", "ValueBox", "VegaChart"]

_CSS_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]*$")


class Image(UserComponent):
    """An image, embedded in the card: PNG, JPEG or GIF ``bytes``, or a ``data:image/...`` string; also from a PIL
    image or a matplotlib figure. ``disable_updates=False`` lets ``update()`` change it in a live card."""

    css_class = "fs-image-component"

    def __init__(self, src: Any = None, label: str | None = None, disable_updates: bool = True) -> None:
        self.REALTIME_UPDATABLE = not disable_updates  # type: ignore[misc]
        self._label = label
        self._set(src)

    def _set(self, src: Any) -> None:
        self._src: str | None = None
        self._problem: tuple[str, str] | None = None
        if src is None:
            self._problem = ("Image needs src: PNG, JPEG or GIF bytes, or a data:image/... string.", "")
            return
        try:
            self._src = image_data_uri(src)
        except Exception as exc:
            self._problem = (f"The image could not be read: {exc}", traceback.format_exc())
            return
        if self._src is None:
            self._problem = (f"Image cannot show a {full_classname(src)}: give PNG, JPEG or GIF bytes, a data URI, "
                             "a PIL image or a matplotlib figure.", "")  # fmt: skip

    @classmethod
    def from_pil_image(cls, pilimage: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        return cls(pilimage, label, disable_updates)

    @classmethod
    def from_matplotlib(cls, plot: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        return cls(plot, label, disable_updates)

    def update(self, image: Any, label: str | None = None) -> None:
        if not self.REALTIME_UPDATABLE:
            _warn("This Image was made with disable_updates=True: create it with disable_updates=False to update it.")
            return
        self._label = label if label is not None else self._label
        self._set(image)

    def _html(self) -> str:
        if self._problem is not None:
            return error_fragment(*self._problem)
        caption = f"<figcaption>{esc(self._label)}</figcaption>" if self._label else ""
        return f'<figure class="fs-image"><img alt={attr(self._label or "image")} src="{self._src}">{caption}</figure>'


class VegaChart(UserComponent):
    """A chart from a Vega-Lite spec (a dict, or an Altair chart with ``from_altair_chart``), drawn in the page
    with the Vega library the card carries."""

    REALTIME_UPDATABLE = True
    css_class = "fs-vega"

    def __init__(self, spec: dict[str, Any], show_controls: bool = False) -> None:
        self._spec, self._show_controls = spec, show_controls
        self._chart_inside_table = False

    @staticmethod
    def _is_altair(chart: Any) -> bool:
        name = full_classname(chart)
        return "altair" in name and "Chart" in name

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        if not cls._is_altair(altair_chart):
            raise ValueError(f"{full_classname(altair_chart)} is not an Altair chart")
        return cls(spec=altair_chart.to_dict())

    def update(self, spec: Any = None) -> None:
        spec = spec.to_dict() if spec is not None and self._is_altair(spec) else spec
        if spec is not None:
            self._spec = spec

    def _html(self) -> str:
        spec = dict(self._spec)
        if "width" not in spec and not self._chart_inside_table:
            spec["width"] = "container"
        actions = "true" if self._show_controls else "false"
        return (f'<div class="fs-vega-view" data-actions="{actions}"></div>'
                f'<script type="application/json">{embedded_json(spec)}</script>')  # fmt: skip


class ProgressBar(UserComponent):
    """A progress bar: ``value`` of ``max``, with a label, a unit and a line of details (``metadata``)."""

    REALTIME_UPDATABLE = True
    css_class = "fs-progress"

    def __init__(self, max: int = 100, label: str | None = None, value: int = 0, unit: str | None = None,
                 metadata: str | None = None) -> None:  # fmt: skip
        self._max, self._label, self._value, self._unit, self._metadata = max, label, value, unit, metadata

    def update(self, new_value: int, metadata: str | None = None) -> None:
        self._value = new_value
        if metadata is not None:
            self._metadata = metadata

    def _html(self) -> str:
        label = f'<div class="fs-label">{esc(self._label)}</div>' if self._label else ""
        unit = f" {self._unit}" if self._unit else ""
        details = f' <span class="fs-muted">{esc(self._metadata)}</span>' if self._metadata else ""
        return (f"{label}<progress max={attr(self._max)} value={attr(self._value)}></progress>"
                f'<div><span class="fs-progress-value">{esc(self._value)}{esc(unit)} / {esc(self._max)}{esc(unit)}'
                f"</span>{details}</div>")  # fmt: skip


class ValueBox(UserComponent):
    """A key figure: a value with a title, a subtitle, a theme and a change indicator."""

    REALTIME_UPDATABLE = True
    css_class = "fs-valuebox-component"
    _LIMITS = {"title": 200, "subtitle": 300, "change_indicator": 200}

    def __init__(self, title: str | None = None, value: str | int | float = "", subtitle: str | None = None,
                 theme: str | None = None, change_indicator: str | None = None) -> None:  # fmt: skip
        self._fields: dict[str, Any] = {}
        self.update(title=title, value=value, subtitle=subtitle, theme=theme, change_indicator=change_indicator)

    def update(self, title: str | None = None, value: str | int | float | None = None,
               subtitle: str | None = None, theme: str | None = None,
               change_indicator: str | None = None) -> None:  # fmt: skip
        given = {"title": title, "value": value, "subtitle": subtitle, "theme": theme,
                 "change_indicator": change_indicator}  # fmt: skip
        for name, item in given.items():
            if item is not None:
                self._check(name, item)
                self._fields[name] = item

    def _check(self, name: str, item: Any) -> None:
        if name == "value":
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise TypeError(f"ValueBox value must be a str, int or float, got {type(item).__name__}")
        elif not isinstance(item, str) or not item.strip():
            raise ValueError(f"ValueBox {name} must be a non-empty string, got {item!r}")
        elif len(item) > self._LIMITS.get(name, 10**6):
            raise ValueError(f"ValueBox {name} must be {self._LIMITS[name]} characters or less")
        elif name == "theme" and not _CSS_NAME.match(item):
            raise ValueError(f"ValueBox theme must be a CSS class name, got {item!r}")

    def _html(self) -> str:
        f = self._fields
        parts = [f'<div class="fs-muted">{esc(f["title"])}</div>' if "title" in f else "",
                 f'<div class="fs-value">{esc(f.get("value", ""))}</div>',
                 f"<div>{esc(f['subtitle'])}</div>" if "subtitle" in f else "",
                 f'<div class="fs-muted">{esc(f["change_indicator"])}</div>' if "change_indicator" in f else ""]
        return f'<div class="fs-valuebox {esc(f.get("theme", "default"))}">{"".join(parts)}</div>'  # fmt: skip


class EventsTimeline(UserComponent):
    """A timeline of events, newest first: ``update(event_data, style_theme=, priority=, payloads=, finished=)``
    adds one (payloads are components shown with it)."""

    REALTIME_UPDATABLE = True
    css_class = "fs-events"

    def __init__(self, title: str | None = None, max_events: int = 100) -> None:
        self._title, self._max_events = title, max_events
        self._events: list[dict[str, Any]] = []
        self._total, self._finished = 0, False

    def update(self, event_data: dict[str, Any], style_theme: str | None = None,
               priority: str | None = None, payloads: dict[str, Any] | None = None,
               finished: bool | None = None) -> None:  # fmt: skip
        if style_theme is not None and not _CSS_NAME.match(style_theme):
            raise ValueError(f"Invalid style_theme {style_theme!r}: it must be a CSS class name.")
        event = {"metadata": {"timestamp": time.time(), **event_data}, "payloads": dict(payloads or {}),
                 "theme": style_theme or "default", "priority": priority}  # fmt: skip
        self._events.insert(0, event)
        del self._events[self._max_events :]
        self._total += 1
        if finished is not None:
            self._finished = finished

    def get_stats(self) -> dict[str, Any]:
        return {"total_events": self._total, "displayed_events": len(self._events), "finished": self._finished}

    def _event_html(self, event: dict[str, Any]) -> str:
        fields = ", ".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in event["metadata"].items())
        payloads = "".join(f"<details><summary>{esc(name)}</summary>{render_component(p) or esc(p)}</details>"
                           for name, p in event["payloads"].items())  # fmt: skip
        return f"<li class={attr(event['theme'])}>{fields}{payloads}</li>"

    def _html(self) -> str:
        title = f'<div class="fs-artifact-name">{esc(self._title)}</div>' if self._title else ""
        status = "finished" if self._finished else "running"
        stats = f'<div class="fs-muted">{self._total} events ({status})</div>'
        return title + stats + "<ol>" + "".join(self._event_html(e) for e in self._events) + "</ol>"
