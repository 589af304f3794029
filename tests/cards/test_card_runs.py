"""@card in real runs of flow files: what each task stores, current.card, errors, --with card, and cards of
reused tasks (cache and resume)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.cards import CardNotPresentException, get_cards
from flowstone.client import Task, context
from tests.runtime.helpers import FlowRun, run_flow


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    run = run_flow("card_flow.py", root=tmp_path_factory.mktemp("cards") / "ds")
    assert run.ok, run.output
    return run


def task(run: FlowRun, step: str) -> Task:
    context.datastore("local", run.fds.datastore_root)
    (found,) = run.tasks(step)
    return Task(found.pathspec, _namespace_check=False)


def test_the_default_card_shows_components_artifacts_parameters_and_the_graph(done: FlowRun) -> None:
    (card,) = get_cards(task(done, "start"))
    assert card.type == "default" and card.id is None and card.is_final
    html = card.get()
    for shown in ("<h1>Sales report</h1>", "<em>by region</em>", "Regions done", "Total units", 'alt="a dot"',
                  'class="fs-vega-view"', "data-artifact=\"settings\"", "&#x27;depth&#x27;: 4", "Parameters",
                  "alpha", "0.5", "3 rows x 2 columns", "data-step=\"middle\"", "def start(self):"):  # fmt: skip
        assert shown in html, shown
    assert "vegaEmbed" in html  # the chart library travels with a card that has a chart
    assert card.path == f"data/{card.hash[:2]}/{card.hash}"
    assert len(get_cards(f"{done.fds.flow_name}/{done.run_id}/start/1")) == 1


def test_a_step_with_several_cards_keeps_them_apart(done: FlowRun) -> None:
    cards = {c.type: c for c in get_cards(task(done, "middle"))}
    assert sorted((c.type, c.id or "") for c in cards.values()) == [
        ("blank", "first"), ("test_broken", ""), ("test_rows", "custom")]  # fmt: skip
    blank, custom, broken = cards["blank"], cards["test_rows"], cards["test_broken"]
    assert "first card" in blank.get() and "appended to the only card that takes components" in blank.get()
    assert "never shown" not in blank.get()
    assert f"rows: 3 {done.fds.flow_name}/{done.run_id}/middle/2" in custom.get()  # a card type of the flow's own
    assert "Card render failed with error" in broken.get() and "broken on purpose" in broken.get()
    assert [c.type for c in get_cards(task(done, "middle"), id="custom")] == ["test_rows"]
    assert [c.id for c in get_cards(task(done, "middle"), type="blank")] == ["first"]
    assert "no_such_type" in done.output and "save_errors=False" in done.output  # warned, not stored
    assert "current.card['missing'] is no card of this step" in done.output


def test_a_step_without_card_has_none(done: FlowRun) -> None:
    assert len(get_cards(task(done, "end"))) == 0
    assert "current.card is set only while a step with @card runs" in _no_card_message()


def _no_card_message() -> str:
    from flowstone import current

    try:
        current.card  # noqa: B018
    except AttributeError as exc:
        return str(exc)
    return ""


def test_cards_belong_to_the_task_and_come_with_it_when_reused(done: FlowRun, tmp_path: Path) -> None:
    root = Path(done.fds.datastore_root)
    again = run_flow("card_flow.py", root=root)  # the cache reuses every task
    assert again.ok and "Cache hit" in again.output, again.output
    origin, reused = get_cards(task(done, "start")), get_cards(task(again, "start"))
    assert reused.from_resumed and reused.origin_pathspec == task(done, "start").pathspec
    assert [c.hash for c in reused] == [c.hash for c in origin]
    assert reused[0].get() == origin[0].get()
    resumed = run_flow("card_flow.py", "--origin-run-id", done.run_id, root=root, command="resume")
    assert resumed.ok, resumed.output
    run_id = resumed.fds.list_run_ids()
    latest = max(run_id, key=int)
    cloned = Task(f"CardFlow/{latest}/middle/2", _namespace_check=False)
    assert sorted(c.type for c in get_cards(cloned)) == ["blank", "test_broken", "test_rows"]


def test_with_card_adds_a_default_card_to_every_step(tmp_path: Path) -> None:
    run = run_flow("card_flow.py", root=tmp_path / "ds", top_args=("--with", "card"))
    assert run.ok, run.output
    assert [c.type for c in get_cards(task(run, "end"))] == ["default"]
    assert "default" in [c.type for c in get_cards(task(run, "middle"))]  # beside the step's own cards
    assert len(get_cards(task(run, "start"))) == 2


def test_get_cards_says_what_it_needs() -> None:
    from flowstone.cards.errors import IncorrectArgumentException, IncorrectPathspecException

    with pytest.raises(IncorrectPathspecException, match="Flow/run_id/step/task_id"):
        get_cards("CardFlow/1/start")
    with pytest.raises(IncorrectArgumentException):
        get_cards(42)
    assert issubclass(CardNotPresentException, Exception)
