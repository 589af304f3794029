from __future__ import annotations

import pytest

from flowstone.storage.memory import MemoryStorage
from tests.storage.conformance import StorageTests


class TestMemoryStorage(StorageTests):
    @pytest.fixture
    def storage(self) -> MemoryStorage:
        return MemoryStorage()
