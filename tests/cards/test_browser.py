"""Cards in a real browser (headless Chromium): what a card shows is visible, charts are drawn with the library
the card carries (nothing is fetched), and the card server keeps a running task's card up to date."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flowstone.cards import get_cards
from flowstone.client import Task, context
from tests.cards.browser import chromium, require_browser, wait_for
from tests.runtime.helpers import FLOWS, run_flow

CSS = "css selector"


@pytest.fixture(scope="module")
def start_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    folder = tmp_path_factory.mktemp("browser")
    run = run_flow("card_flow.py", root=folder / "ds")
    assert run.ok, run.output
    context.datastore("local", run.fds.datastore_root)
    (card,) = get_cards(Task(f"CardFlow/{run.run_id}/start/1", _namespace_check=False))
    path = folder / "start.html"
    path.write_text(card.get(), encoding="utf-8")
    return path


def text_of(driver: Any, selector: str) -> str:
    """The text of every element ``selector`` matches, read in one step: a live page may replace an element
    between finding it and reading it."""
    script = ("return Array.from(document.querySelectorAll(arguments[0]))"
              ".map(e => (e.innerText === undefined ? e.textContent : e.innerText).trim()).join(' ')")  # fmt: skip
    return str(driver.execute_script(script, selector))


def test_components_are_visible_and_the_chart_is_drawn(start_card: Path) -> None:
    with chromium() as driver:
        driver.get(start_card.as_uri())
        assert driver.find_element(CSS, ".fs-markdown h1").text == "Sales report"
        assert "north" in text_of(driver, ".fs-table-component td") and "5" in text_of(driver, ".fs-artifact pre")
        assert "Regions done" in text_of(driver, ".fs-progress") and "7 / 10" in text_of(driver, ".fs-progress")
        assert "Total units" in text_of(driver, ".fs-valuebox") and "10" in text_of(driver, ".fs-value")
        image = driver.find_element(CSS, ".fs-image-component img")
        assert driver.execute_script("return arguments[0].naturalWidth", image) == 1
        wait_for(driver, lambda d: d.find_elements(CSS, ".fs-vega[data-drawn='true'] svg"), what="chart drawn")
        bars = driver.find_elements(CSS, ".fs-vega svg .mark-rect path")
        assert len(bars) == 3  # one bar a region
        assert "region" in text_of(driver, ".fs-vega svg")
        # the default card's own sections
        assert "settings" in text_of(driver, ".fs-artifacts td.fs-artifact-name")
        assert "alpha" in text_of(driver, ".fs-parameters th")
        assert driver.find_elements(CSS, ".fs-dag svg g.fs-current[data-step='start']")
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


def _cards_of_running_task(root: Path, flow_file: Path, deadline: float) -> str:
    context.datastore("local", str(root))
    while time.time() < deadline:
        runs = [p.name for p in (root / "CardLiveFlow").glob("[0-9]*")] if (root / "CardLiveFlow").exists() else []
        for run_id in runs:
            try:
                cards = get_cards(Task(f"CardLiveFlow/{run_id}/start/1", _namespace_check=False))
            except Exception:
                continue
            if len(cards):
                return run_id
        time.sleep(0.1)
    raise AssertionError("the running task stored no card in time")


def _start_server(flow_file: Path, root: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, str(flow_file), "--datastore-root", str(root), "card", "server",
                               "--port", "0", "--poll-interval", "0.3"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline()  # "Card server for CardLiveFlow listening on http://127.0.0.1:PORT/ ..."
    assert "listening on http://127.0.0.1:" in line, line
    return server, line.split("listening on ")[1].split()[0]


def _progress(driver: Any) -> int:
    """The live card's progress (read in one step: an update may replace the element at any moment)."""
    text = driver.execute_script("var e = document.querySelector('.fs-progress-value'); return e && e.textContent")
    return int(text.split("/")[0]) if text else -1


def test_the_card_server_shows_a_running_task_live(tmp_path: Path) -> None:
    require_browser()
    root, gate = tmp_path / "ds", tmp_path / "gate"
    flow_file = FLOWS / "card_live_flow.py"
    env = {**os.environ, "CARD_GATE": str(gate)}
    flow = subprocess.Popen([sys.executable, str(flow_file), "--datastore-root", str(root), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    server = None
    try:
        _cards_of_running_task(root, flow_file, time.time() + 60)
        server, url = _start_server(flow_file, root)
        with chromium() as driver:
            driver.get(url)
            wait_for(driver, lambda d: d.find_elements(CSS, "nav button"), what="the card listed")
            assert "running" in text_of(driver, "nav button")
            driver.switch_to.frame(driver.find_element(CSS, "#card-frame"))
            wait_for(driver, lambda d: _progress(d) > 0, what="the live card shown")
            assert text_of(driver, ".fs-markdown h1") == "Live report"
            driver.execute_script("window.stillTheSamePage = true")
            seen = _progress(driver)
            wait_for(driver, lambda d: _progress(d) > seen + 2, what="the card updated while the task runs")
            assert driver.execute_script("return window.stillTheSamePage") is True  # updated in place, no reload
            gate.touch()
            wait_for(driver, lambda d: d.execute_script("return window.METAFLOW_RELOAD_TOKEN") == "final",
                     seconds=60, what="the final card shown")  # fmt: skip
            assert "done" in text_of(driver, ".fs-artifacts td.fs-artifact-name")
        assert flow.wait(timeout=60) == 0
    finally:
        gate.touch()
        for process in (flow, server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
