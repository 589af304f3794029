"""A real Azure Blob Storage API for tests and benchmarks: Azurite (``azurite-blob``) on a free loopback port.

Azurite comes from the npm registry, pinned by ``tests/servers/azurite/package-lock.json`` and installed into
``tests/servers/azurite/node_modules`` by ``scripts/setup.sh dev``. The server keeps its data in a temporary
folder (or in memory), serves the emulator's well-known development account, and is stopped by its process id.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.seaweedfs import free_ports

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "Azurite", "connection_string"]

#: The emulator's development account and its published key (the same for every Azurite install).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PACKAGE_DIR = Path(__file__).parent / "azurite"
READY_TIMEOUT = 60.0
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
class Azurite:
    """One running ``azurite-blob``. Use as a context manager, or call start() and stop()."""

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
            log = open(self.workdir / "azurite.log", "wb")  # noqa: SIM115 - closed with the process
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                            start_new_session=True)  # fmt: skip
            log.close()
            if self._wait_until_ready(last=attempt == START_ATTEMPTS):
                return self
        raise AssertionError("unreachable")

    def _wait_until_ready(self, last: bool) -> bool:
        """Poll until every container exists (a readiness check, with a deadline); False if Azurite exited
        because its port was taken (then start() tries another)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                if "EADDRINUSE" in self.log() and not last:
                    return False
                raise RuntimeError(f"Azurite exited at start:\n{self.log()}")
            if self._containers_ready():
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not become ready in {READY_TIMEOUT} s:\n{self.log()}")

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

    def log(self) -> str:
        path = self.workdir / "azurite.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its data is thrown away: no need for a clean shutdown
            self.process.wait()
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
