"""current.card's rules (which card append reaches, ids, refreshes) and rendering (components that fail,
time limits, error cards), in the test's own process."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowstone.cards import (
    EventsTimeline,
    Image,
    JSONViewer,
    Markdown,
    MetaflowCard,
    MetaflowCardComponent,
    VegaChart,
    YAMLViewer,
    render_card,
)
from flowstone.cards.collector import CardComponentCollector, CardComponentManager, card_spec
from flowstone.cards.errors import ComponentOverwriteNotSupportedException


class Creator:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def create(self, manager: CardComponentManager, mode: str) -> None:
        self.calls.append(mode)


def collector(*cards: dict[str, Any], creator: Creator | None = None) -> CardComponentCollector:
    result = CardComponentCollector(creator)
    for i, attributes in enumerate(cards):
        result._add_card(card_spec(f"uuid{i}", attributes))
    result._finalize()
    return result


def test_append_reaches_the_one_editable_card(capsys: pytest.CaptureFixture[str]) -> None:
    one = collector({"type": "default"}, {"type": "html", "id": "page"})
    one.append(Markdown("x"))
    assert len(one._managers["uuid0"].components) == 1
    assert one["page"] is one._managers["uuid1"] and one["nope"] == []
    several = collector({"type": "default", "id": "a"}, {"type": "blank"})
    several.append(Markdown("y"))
    assert len(several._managers["uuid1"].components) == 1  # the editable card without an id
    ambiguous = collector({"type": "default", "id": "a"}, {"type": "blank", "id": "b"})
    ambiguous.append(Markdown("z"))
    assert "cannot tell which" in capsys.readouterr().err
    assert len(ambiguous["a"].components) == 0
    custom = collector({"type": "default"}, {"type": "blank", "customize": True})
    custom.append(Markdown("w"))
    assert len(custom._managers["uuid1"].components) == 1
    twice = collector({"type": "blank", "id": "same"}, {"type": "blank", "id": "same"})
    assert twice["same"] == [] and "have the id 'same'" in capsys.readouterr().err
    collector({"type": "blank", "id": "not valid!"})
    assert "is not made of letters" in capsys.readouterr().err


def test_components_by_id_and_replacing_a_card(capsys: pytest.CaptureFixture[str]) -> None:
    cards = collector({"type": "blank", "id": "main"})
    cards["main"].append(Markdown("a"), id="intro")
    assert "intro" in cards["main"].components
    with pytest.raises(ComponentOverwriteNotSupportedException, match="already has a component"):
        cards["main"].components["intro"] = Markdown("b")
    del cards["main"].components["intro"]
    with pytest.raises(KeyError):
        del cards["main"].components["intro"]
    cards["main"] = [Markdown("c"), Markdown("d")]
    assert len(cards["main"]) == 2
    cards.append("not a component")
    assert "is not a card component" in capsys.readouterr().err
    cards.clear()
    assert len(cards["main"]) == 0


def test_refresh_renders_when_the_layout_changed_and_is_rate_limited() -> None:
    creator = Creator()
    cards = collector({"type": "blank", "refresh_interval": 60}, creator=creator)
    cards.append(Markdown("a"))
    cards.refresh()
    assert creator.calls == ["render_runtime", "refresh"]
    cards.refresh()  # within the interval: skipped
    assert creator.calls == ["render_runtime", "refresh"]
    cards.refresh(force=True)
    assert creator.calls[-2:] == ["render_runtime", "refresh"]
    html_only = collector({"type": "html"}, creator=creator)
    html_only.refresh()  # the html card has no live form
    assert len(creator.calls) == 4


def test_live_data_holds_the_updatable_components() -> None:
    manager = collector({"type": "blank"})._managers["uuid0"]
    text = Markdown("before")
    manager.append(text, id="t")
    manager.append(Image(b"not an image", "x"))  # not updatable unless asked
    text.update("after")
    data = manager.latest_data()
    assert list(data["components"]) == ["t"] and "after" in data["components"]["t"]


class Task:
    pathspec = "F/1/s/2"


class Slow(MetaflowCard):
    type = "test_slow"

    def render(self, task: Any) -> str:
        time.sleep(10)  # a card that takes too long to render
        return "never"


class Empty(MetaflowCard):
    type = "test_empty"

    def render(self, task: Any) -> str:
        return ""


def test_cards_that_cannot_render_become_error_cards() -> None:
    started = time.time()
    html = _render_with_timeout("test_slow", 0.3)
    assert time.time() - started < 5 and "longer than its timeout of 0.3 seconds" in html
    assert "rendered nothing" in render_card(Task(), "test_empty")
    assert "No card type named &#x27;nope&#x27;" in render_card(Task(), "nope")


def _render_with_timeout(card_type: str, seconds: float) -> str:
    from flowstone.cards.collector import CardComponentManager
    from flowstone.cards.rendering import render_html

    spec = card_spec("u", {"type": card_type, "timeout": seconds})
    return render_html(spec, Task(), [], CardComponentManager(spec, None).latest_data()) or ""


class Broken(MetaflowCardComponent):
    def render(self) -> str:
        raise ValueError("no")


def test_components_render_safely() -> None:
    assert "could not be read" in Image(object()).render() or "cannot show" in Image(object()).render()
    assert "fs-error" in Image(None).render()
    assert render_card(Task(), "blank", components=[Broken(), Markdown("kept")]).count("kept") == 1
    chart = VegaChart({"title": "</script><b>x</b>", "mark": "bar"}).render()
    assert "</script><b>" not in chart and "\\u003c/script\\u003e" in chart
    assert "&quot;depth&quot;: 4" in JSONViewer({"depth": 4}).render()
    assert "depth: 4" in YAMLViewer({"depth": 4, "tags": ["a"]}).render() and "- &quot;a&quot;" in YAMLViewer(
        {"tags": ["a"]}).render()  # fmt: skip
    events = EventsTimeline(title="Steps")
    events.update({"action": "load"}, style_theme="success", payloads={"note": Markdown("**ok**")})
    assert "<b>action</b>: load" in events.render() and "<strong>ok</strong>" in events.render()
    with pytest.raises(ValueError):
        events.update({}, style_theme="not a class!")
