"""A real Azure Blob Storage API for tests and benchmarks: Azurite (``azurite-blob``) on a free loopback port.

Azurite comes from the npm registry, pinned by ``tests/servers/azurite/package-lock.json`` and installed into
``tests/servers/azurite/node_modules`` by ``scripts/setup.sh dev``. The server keeps its data in a temporary
folder (or in memory), serves the emulator's well-known development account, and is stopped by its process id.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers._process import ServerProcess, free_ports

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "Azurite", "connection_string"]

#: The emulator's development account and its published key (the same for every Azurite install).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PACKAGE_DIR = Path(__file__).parent / "azurite"
START_ATTEMPTS = 3  # the free port may be taken by another process between choosing it and Azurite binding it


def connection_string(endpoint: str, key: str = ACCOUNT_KEY) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={endpoint};"


def _azurite_binary() -> str:
    binary = PACKAGE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise RuntimeError(
            f"Azurite is not installed in {PACKAGE_DIR}: run ./scripts/setup.sh dev "
            f"(or npm ci --prefix {PACKAGE_DIR}); it needs node and npm."
        )
    return str(binary)


@dataclass
class Azurite(ServerProcess):
    """One running ``azurite-blob``. Use as a context manager, or call start() and stop()."""

    NAME = "Azurite"
    LOG_NAME = "azurite.log"

    containers: tuple[str, ...] = ("flowstone-test",)
    in_memory: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="flowstone-azurite-")))
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.endpoint)

    @property
    def environment(self) -> dict[str, str]:
        """The variables a client needs to reach this server (and nothing on the internet)."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def start(self) -> Azurite:
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_ports(1)[0]
            storage = ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.workdir / "data")]
            command = [_azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), *storage,
                       "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"]  # fmt: skip
            self._launch(command)
            # a port taken between choosing and binding it: Azurite exits, and another port is tried
            retry = attempt < START_ATTEMPTS
            if self._wait_until(
                self._containers_ready, exited=lambda retry=retry: retry and "EADDRINUSE" in self.log()
            ):
                return self
        raise AssertionError("unreachable")

    def _containers_ready(self) -> bool:
        from azure.core.exceptions import AzureError, ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            self.connection_string, retry_total=0, connection_timeout=1, read_timeout=2
        )
        try:
            for container in self.containers:
                try:
                    service.create_container(container)
                except ResourceExistsError:
                    pass
        except AzureError:
            return False
        finally:
            service.close()
        return True
