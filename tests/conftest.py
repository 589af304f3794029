from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings, resolve_username
from flowstone.storage.local import LocalStorage
from flowstone.storage.memory import MemoryStorage
from tests.servers.azurite import Azurite
from tests.servers.seaweedfs import SeaweedFS

# test flows import their helper module ('behaviours') the way a flow file imports a sibling module
sys.path.insert(0, str(Path(__file__).parent / "flows"))

# the variables tests set to make steps fail (and unset to let them succeed) are no inputs of the steps: a failed
# run and the resume or run after it would otherwise never reuse a task that read them
os.environ["FLOWSTONE_CACHE_IGNORE_ENV"] = "FS_TEST_*,FAIL_*,CONFIG_FLOW_FAIL"

# runs are attributed to a user; CI may run the suite as root with no USER, and root does not count
if resolve_username() is None:
    os.environ["FLOWSTONE_USER"] = "tester"


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


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """A real S3 API server on loopback, one per test worker, with an empty bucket 'flowstone-test'."""
    with SeaweedFS(buckets=("flowstone-test", "flowstone-other")) as server:
        yield server


@pytest.fixture
def s3_env(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point S3 clients in this process (and in subprocesses it starts) at the test server."""
    for name, value in seaweedfs.environment.items():
        monkeypatch.setenv(name, value)
    return seaweedfs.environment


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A real Azure Blob API (Azurite) on loopback, one per test worker, with containers 'flowstone-test' and
    'flowstone-other'. Tests keep apart by a unique prefix each."""
    with Azurite(containers=("flowstone-test", "flowstone-other")) as server:
        yield server


@pytest.fixture
def azure_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point Azure clients in this process (and in subprocesses it starts) at the test server."""
    for name in ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
                 "FLOWSTONE_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in azurite.environment.items():
        monkeypatch.setenv(name, value)
    return azurite.environment
