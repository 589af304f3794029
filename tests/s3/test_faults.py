"""A server that stops answering (SIGSTOP) or dies (SIGKILL): every wait is bounded, slow batches say so on
stderr, and the error says what failed, where, why and what to do, in a few words."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone import S3
from flowstone.s3._download import read_object
from flowstone.s3._progress import run_batch
from flowstone.s3._sinks import FileSink
from flowstone.s3.config import MiB, S3Config
from flowstone.s3.errors import S3TransientError
from flowstone.s3.transport import S3Transport
from tests.s3.conftest import FAST_RETRY
from tests.servers.seaweedfs import SeaweedFS

BUCKET = "faults"
#: Short waits, so that a stalled server costs seconds here (the defaults are 20 s and 60 s).
QUICK = {"read_timeout": 1.0, "deadline": 4.0, "progress_after": 1.0}


@pytest.fixture
def server() -> Iterator[SeaweedFS]:
    """A server of this test's own, which it may stop or kill."""
    with SeaweedFS(buckets=(BUCKET,)) as own:
        yield own
        if own.process is not None:
            os.kill(own.process.pid, signal.SIGCONT)


def _config(server: SeaweedFS, **changes: object) -> S3Config:
    return S3Config.from_env(server.environment, retry=FAST_RETRY, part_size=5 * MiB, **changes)


class _StopOnFirstBytes(FileSink):
    """A download's file that stops the server (SIGSTOP) as soon as the first bytes of the body arrive."""

    def __init__(self, path: Path, server_pid: int) -> None:
        super().__init__(path)
        self.server_pid = server_pid

    def write(self, offset: int, data: memoryview | bytes) -> None:
        os.kill(self.server_pid, signal.SIGSTOP)
        super().write(offset, data)


def test_a_server_stopped_mid_download_fails_at_the_deadline(server: SeaweedFS, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    config = _config(server, **QUICK)
    transport = S3Transport(BUCKET, config)
    transport.put_many([("big", os.urandom(64 * MiB))])
    assert server.process is not None
    started = time.monotonic()
    with pytest.raises(S3TransientError) as failure:
        reads = [read_object(transport, "big", None, _StopOnFirstBytes(tmp_path / "big", server.process.pid))]
        transport.run(run_batch("GET", reads, config))
    elapsed = time.monotonic() - started
    assert config.deadline <= elapsed < config.deadline + 3, f"took {elapsed:.1f} s"
    message = str(failure.value)
    assert f"GET s3://{BUCKET}/big failed" in message and "timed out" in message, message
    assert "FLOWSTONE_S3_DEADLINE" in message and server.endpoint in message
    assert failure.value.__cause__ is None  # the storage library's report stays out of it
    progress = capsys.readouterr().err
    assert f"S3 GET of 1 object at {server.endpoint} still running" in progress, progress
    assert "nothing came for 1 s (FLOWSTONE_S3_READ_TIMEOUT)" in progress
    assert not (tmp_path / "big").exists()  # no half-written file left


def test_a_stopped_server_bounds_uploads_and_the_client(server: SeaweedFS) -> None:
    config = _config(server, **QUICK)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    with S3(s3root=f"s3://{BUCKET}/x", config=config) as s3:
        for call in (lambda: s3.put("multipart", os.urandom(12 * MiB)), lambda: s3.get("small"),
                     lambda: s3.list_paths()):  # fmt: skip
            started = time.monotonic()
            with pytest.raises(S3TransientError, match="timed out"):
                call()
            assert time.monotonic() - started < config.deadline + 3


def test_a_dead_server_fails_fast_and_says_so(server: SeaweedFS) -> None:
    config = _config(server)
    endpoint = server.endpoint
    server.stop()
    started = time.monotonic()
    with S3(s3root=f"s3://{BUCKET}/x", config=config) as s3, pytest.raises(S3TransientError) as failure:
        s3.get("k")
    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert f"GET s3://{BUCKET}/x/k failed after {FAST_RETRY.attempts} attempts: connection refused" in message
    assert f"Nothing accepts connections at {endpoint}" in message and "FLOWSTONE_S3_ENDPOINT_URL" in message
    assert "\n" not in message and "Debug" not in message and failure.value.__cause__ is None
    verbose = config.replace(debug=True)
    with S3(s3root=f"s3://{BUCKET}/x", config=verbose) as s3, pytest.raises(S3TransientError) as debug:
        s3.get("k")
    assert "Debug source" in str(debug.value.__cause__)  # FLOWSTONE_DEBUG keeps obstore's own report


def test_a_server_that_never_accepts_fails_at_the_connect_timeout() -> None:
    """A listening socket whose accept queue is full drops new connections' SYNs: connecting hangs, as to a host
    that is gone, until the connect timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())  # takes the one place in the queue
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    environment = {"FLOWSTONE_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                   "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    config = S3Config.from_env(environment, retry=FAST_RETRY, connect_timeout=0.5, deadline=30.0)
    try:
        started = time.monotonic()
        with S3(s3root=f"s3://{BUCKET}/x", config=config) as s3, pytest.raises(S3TransientError) as failure:
            s3.get("k")
        elapsed = time.monotonic() - started
    finally:
        filler.close()
        listener.close()
    assert config.connect_timeout <= elapsed < FAST_RETRY.attempts * config.connect_timeout + 3, f"{elapsed:.1f} s"
    message = str(failure.value)
    assert f"GET s3://{BUCKET}/x/k failed after {FAST_RETRY.attempts} attempts: connecting timed out" in message
    assert f"Nothing took the connection at {endpoint} within 0.5 s" in message, message
    assert "FLOWSTONE_S3_CONNECT_TIMEOUT" in message and "\n" not in message
