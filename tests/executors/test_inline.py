from __future__ import annotations

import pytest

from flowstone.executors.inline import InlineExecutor
from tests.executors.conformance import ExecutorTests


class TestInlineExecutor(ExecutorTests):
    @pytest.fixture
    def executor(self) -> InlineExecutor:
        return InlineExecutor()
