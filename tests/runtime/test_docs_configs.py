"""The examples of docs/configs.md run as the page says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.runtime.helpers import run_flow

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configs.md"


def examples(folder: Path) -> dict[str, Path]:
    """Write each ```python block that starts with '# example: NAME' to folder/NAME."""
    written = {}
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S):
        first, _, body = block.partition("\n")
        if first.startswith("# example: "):
            path = folder / first.removeprefix("# example: ").strip()
            path.write_text(body)
            written[path.name] = path
    return written


def test_the_pages_examples_run(tmp_path: Path) -> None:
    flows = examples(tmp_path)
    assert set(flows) == {"train_flow.py", "tuned_flow.py"}
    train = run_flow(flows["train_flow.py"], root=tmp_path / "ds")
    assert train.ok, train.output
    assert "training a ridge with alpha=0.5" in train.output and "Project: churn, Branch: user." in train.output
    lasso = {"project": "churn", "kind": "lasso", "alpha": 0.1, "cpu": 4}
    train = run_flow(flows["train_flow.py"], root=tmp_path / "ds", top_args=("--config-value", "model",
                                                                              json.dumps(lasso)))  # fmt: skip
    assert train.ok and "training a lasso with alpha=0.1" in train.output and train.task("start")["kind"] == "lasso"
    tuned = run_flow(flows["tuned_flow.py"], "--epochs", "10", root=tmp_path / "ds")
    assert tuned.ok, tuned.output
    start = tuned.task("start")
    assert start["plan"] == (10, 32) and start["seconds"] >= 0
    decorators = {d["name"]: d["attributes"] for d in start.load_metadata(["decorators"])["decorators"]}
    assert decorators["retry"]["times"] == 2
