from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings
from flowstone.storage.local import LocalStorage
from flowstone.storage.memory import MemoryStorage


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    return tmp_path / "ds"


@pytest.fixture
def settings(local_root: Path) -> Settings:
    return Settings(datastore_sysroot_local=str(local_root))


@pytest.fixture(params=["local", "memory"])
def flow_datastore(request: pytest.FixtureRequest, local_root: Path, settings: Settings) -> FlowDataStore:
    storage = LocalStorage(str(local_root)) if request.param == "local" else MemoryStorage()
    return FlowDataStore("TestFlow", storage=storage, settings=settings)
