"""The example of docs/cards.md runs, and the chart library the cards carry is the one pinned."""

from __future__ import annotations

import json
from pathlib import Path

from flowstone.cards import get_cards
from flowstone.cards.html import CHART_SCRIPTS, static_text
from flowstone.client import Task, context
from tests.runtime.helpers import run_flow

PROJECT = Path(__file__).resolve().parents[2]


def test_the_example_flow_makes_its_cards(tmp_path: Path) -> None:
    run = run_flow(PROJECT / "examples" / "card_flow.py", "--epochs", "5", root=tmp_path / "ds")
    assert run.ok, run.output
    context.datastore("local", run.fds.datastore_root)
    (train,) = get_cards(Task(f"CardExampleFlow/{run.run_id}/train/2", _namespace_check=False), id="training")
    html = train.get()
    assert "<h1>Training</h1>" in html and "Fitted slope" in html and "5 / 5" in html and "fs-vega-view" in html
    (start,) = get_cards(Task(f"CardExampleFlow/{run.run_id}/start/1", _namespace_check=False))
    assert start.type == "default" and 'data-artifact="samples"' in start.get()


def test_the_chart_library_is_the_pinned_one() -> None:
    lock = json.loads((PROJECT / "scripts" / "chart-js" / "package-lock.json").read_text())
    pinned = {name.split("node_modules/")[-1]: entry["version"] for name, entry in lock["packages"].items() if name}
    assert [name.removesuffix(".min.js") for name in CHART_SCRIPTS] == ["vega", "vega-lite", "vega-embed"]
    assert f'"{pinned["vega-lite"]}"' in static_text("vega-lite.min.js")[:2000]
    assert pinned["vega"] in static_text("vega.min.js") and pinned["vega-embed"] in static_text("vega-embed.min.js")
    for name in ("vega", "vega-lite", "vega-embed"):
        assert "BSD" in static_text(f"LICENSE.{name}") or "Copyright" in static_text(f"LICENSE.{name}")
