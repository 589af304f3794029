"""card get|view|list (a flow file's command line and the flowstone command), and live cards of a task that
failed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from flowstone.cards import get_cards
from flowstone.client import Task, context
from tests.runtime.helpers import FLOWS, FlowRun, run_flow


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    run = run_flow("card_flow.py", root=tmp_path_factory.mktemp("card-cli") / "ds")
    assert run.ok, run.output
    return run


def flow_cmd(done: FlowRun, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(FLOWS / "card_flow.py"), "--datastore-root", done.fds.datastore_root, "card", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})


def flowstone(done: FlowRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowstone.cli.main", "--datastore-root", done.fds.datastore_root,
                           "card", *args], capture_output=True, text=True)  # fmt: skip


def test_get_prints_or_saves_the_card(done: FlowRun, tmp_path: Path) -> None:
    out = flow_cmd(done, "get", "start")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("<!DOCTYPE html>") and "Sales report" in out.stdout
    assert f"Resolving card: CardFlow/{done.run_id}/start/1" in out.stderr
    target = tmp_path / "card.html"
    saved = flow_cmd(done, "get", f"{done.run_id}/middle/2", str(target), "--id", "custom")
    assert saved.returncode == 0 and "rows: 3" in target.read_text()
    several = flow_cmd(done, "get", f"{done.run_id}/middle")
    assert several.returncode == 0 and "Found 3 cards" in several.stderr and "--hash" in several.stderr
    chosen = flow_cmd(done, "get", "middle", "--type", "test_broken")
    assert "broken on purpose" in chosen.stdout
    missing = flow_cmd(done, "get", "end")
    assert missing.returncode == 1 and "Card not found" in missing.stderr and "card list" in missing.stderr


def test_list_shows_a_task_or_the_whole_run(done: FlowRun) -> None:
    listing = json.loads(flow_cmd(done, "list", "middle", "--as-json").stdout)
    assert listing["pathspec"] == f"CardFlow/{done.run_id}/middle/2"
    assert sorted(c["type"] for c in listing["cards"]) == ["blank", "test_broken", "test_rows"]
    run_listing = json.loads(flow_cmd(done, "list", "--as-json").stdout)
    assert [t["pathspec"].split("/")[2] for t in run_listing] == ["start", "middle"]
    text = flow_cmd(done, "list")
    assert "Listing cards for run" in text.stderr and "Card Type: default" in text.stderr
    card_hash = run_listing[0]["cards"][0]["hash"]
    by_hash = flow_cmd(done, "get", "start", "--hash", card_hash[:6])
    assert by_hash.returncode == 0 and "Sales report" in by_hash.stdout


def test_the_flowstone_command_names_the_flow(done: FlowRun) -> None:
    out = flowstone(done, "get", f"CardFlow/{done.run_id}/start/1")
    assert out.returncode == 0 and "Sales report" in out.stdout, out.stderr
    listing = json.loads(flowstone(done, "list", "CardFlow", "--as-json").stdout)
    assert len(listing) == 2
    assert "names no step" in flowstone(done, "get", "CardFlow").stderr


def test_view_opens_the_card_in_a_browser(done: FlowRun, tmp_path: Path) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    out = flow_cmd(done, "view", "start", env={"BROWSER": str(browser)})
    assert out.returncode == 0, out.stderr
    url = opened.read_text().strip()
    assert url.startswith("file://") and "Sales report" in Path(url[len("file://") :]).read_text()


def test_a_failed_task_keeps_its_live_card_but_gets_no_final_one(tmp_path: Path) -> None:
    run = run_flow("card_live_flow.py", root=tmp_path / "ds", env={"CARD_FAIL": "1"})
    assert not run.ok
    context.datastore("local", run.fds.datastore_root)
    (card,) = get_cards(Task(f"CardLiveFlow/{run.run_id}/start/1", _namespace_check=False))
    assert not card.is_final and "Live report" in card.get()
    assert card.get_data()["reload_token"].startswith("runtime-")
