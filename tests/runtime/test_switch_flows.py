"""Switches and loops run as a user runs them (``python flow.py run|resume|show|check``): the chosen case runs, a
loop goes round once per round with new tasks, a resume of a run that failed inside a loop clones the rounds that
succeeded and runs again from the failed one, and a second run reuses every round from the cache."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.helpers import FlowRun, run_flow

ROUNDS = {"a": 1, "bb": 2, "ccc": 3}


def _rounds_by_word(run: FlowRun, step: str = "work") -> dict[str, list[tuple[int, str]]]:
    """word -> (round, cache decision) of each task of ``step`` (on the loop), in round order."""
    by_word: dict[str, list[tuple[int, str]]] = {}
    for task in run.tasks(step):
        meta = task.load_metadata(["foreach_stack", "iteration", "cache"])
        word = ["a", "bb", "ccc"][meta["foreach_stack"][-1]["index"]]
        by_word.setdefault(word, []).append((task["rounds"], meta["cache"]["decision"]))
        assert meta["iteration"] == task["rounds"] - 1
    return {word: sorted(rounds) for word, rounds in by_word.items()}


def test_each_item_loops_as_often_as_it_asks(tmp_path: Path) -> None:
    run = run_flow("switch_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.end_result() == [1, 2, 3]
    assert {word: len(rounds) for word, rounds in _rounds_by_word(run).items()} == ROUNDS
    assert len(run.tasks("check")) == 6 and run.tasks("skipped") == []
    skipped = run_flow("switch_flow.py", "--mode", "skip", root=tmp_path / "ds")
    assert skipped.ok and skipped.end_result() == [] and skipped.tasks("fan") == []


def test_a_second_run_reuses_every_round_from_the_cache(tmp_path: Path) -> None:
    assert run_flow("switch_flow.py", root=tmp_path / "ds").ok
    again = run_flow("switch_flow.py", root=tmp_path / "ds")
    assert again.ok and again.end_result() == [1, 2, 3]
    rounds = _rounds_by_word(again, "check")  # 'work' reads current.origin_run_id, so it is never cached
    assert {decision for word in rounds for _, decision in rounds[word]} == {"hit"}
    assert [r for r, _ in rounds["ccc"]] == [1, 2, 3]


def test_resume_clones_the_rounds_that_succeeded_and_runs_from_the_failed_one(tmp_path: Path) -> None:
    failed = run_flow("switch_flow.py", "--max-workers", "1", root=tmp_path / "ds", env={"FAIL_ROUND": "ccc:3"})
    assert failed.proc.returncode == 1 and "planned failure in round 3 of ccc" in failed.output
    done = run_flow("switch_flow.py", root=tmp_path / "ds", command="resume")
    assert done.proc.returncode == 0, done.output
    resumed = FlowRun(done.proc, max(done.fds.list_run_ids(), key=int), done.fds)
    assert resumed.end_result() == [1, 2, 3]
    rounds = _rounds_by_word(resumed)
    assert rounds["a"] == [(1, "resumed")] and rounds["bb"] == [(1, "resumed"), (2, "resumed")]
    assert rounds["ccc"][:2] == [(1, "resumed"), (2, "resumed")]
    assert rounds["ccc"][2][0] == 3 and rounds["ccc"][2][1] != "resumed"  # the failed round runs again
    for task in resumed.tasks("work"):
        meta = task.load_metadata(["origin_pathspec", "cache"])
        assert (meta.get("origin_pathspec") is not None) == (meta["cache"]["decision"] == "resumed")


def test_show_and_check_describe_switches_and_loops(tmp_path: Path) -> None:
    check = run_flow("switch_flow.py", root=tmp_path / "ds", command="check")
    assert check.proc.returncode == 0 and "The graph looks good!" in check.output
    show = run_flow("switch_flow.py", root=tmp_path / "ds", command="show")
    assert show.proc.returncode == 0
    assert "Step start  (switch on mode)" in show.output
    assert "=> fan or skipped  ('count': fan, 'skip': skipped)" in show.output
    assert "Step check  (switch on state)" in show.output
    assert "=> work or finish  ('again': work, 'done': finish; loops back to work)" in show.output
