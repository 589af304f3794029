from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.helpers import UiRuns, UiServer, make_runs


@pytest.fixture(scope="module")
def ui_runs(tmp_path_factory: pytest.TempPathFactory) -> UiRuns:
    return make_runs(tmp_path_factory.mktemp("ui") / "ds")


@pytest.fixture(scope="module")
def ui_server(ui_runs: UiRuns) -> Iterator[UiServer]:
    with UiServer(Path(ui_runs.root)) as server:
        yield server
