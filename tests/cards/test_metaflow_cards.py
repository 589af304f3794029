"""A flow file written for Metaflow's cards (its imports, a custom card type from Metaflow's module path) runs
unmodified under ``flowstone exec``, and ``card get`` reads what it made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FLOW = '''
from metaflow import FlowSpec, card, current, step
from metaflow.cards import Markdown, Table, get_cards
from metaflow.plugins.cards.card_modules import MetaflowCard


class NoteCard(MetaflowCard):
    type = "note_card"

    def render(self, task):
        return "<p>note for %s: %s</p>" % (task.pathspec, task["note"].data)


class MetaflowCardsFlow(FlowSpec):
    @card(type="note_card", id="note")
    @card(type="blank", id="report")
    @step
    def start(self):
        self.note = "hello"
        current.card["report"].append(Markdown("# written for metaflow"))
        current.card["report"].append(Table([["a", 1]]))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MetaflowCardsFlow()
'''


def test_a_metaflow_flow_with_cards_runs_unmodified(tmp_path: Path) -> None:
    (tmp_path / "metaflow_cards_flow.py").write_text(FLOW)
    root = str(tmp_path / "ds")

    def flowstone(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flowstone.cli.main", "exec", "metaflow_cards_flow.py", "--datastore-root",
                   root, *args]  # fmt: skip
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    done = flowstone("run")
    assert done.returncode == 0, done.stdout + done.stderr
    note = flowstone("card", "get", "start", "--id", "note")
    assert note.returncode == 0 and "note for MetaflowCardsFlow/" in note.stdout and ": hello" in note.stdout
    report = flowstone("card", "get", "start", "--type", "blank")
    assert "<h1>written for metaflow</h1>" in report.stdout, report.stderr
