from __future__ import annotations

import pytest

from flowstone.executors.inline import InlineExecutor
from tests.executors.conformance import ExecutorTests


class TestInlineExecutor(ExecutorTests):
    stops_running_tasks = False  # it runs each task to its end inside submit
    @pytest.fixture
    def executor(self) -> InlineExecutor:
        return InlineExecutor()
