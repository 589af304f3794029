"""Fixtures for the S3 client and transport tests: a fresh key prefix per test on the shared SeaweedFS server."""

from __future__ import annotations

import uuid

import pytest

from flowstone.s3.config import RetryPolicy, S3Config
from flowstone.s3.transport import S3Transport

BUCKET = "flowstone-test"
#: Retries without waiting: tests count attempts, they do not measure backoff.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.0005, max_delay=0.002)


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def config(s3_env: dict[str, str]) -> S3Config:
    return S3Config.from_env(retry=FAST_RETRY)


@pytest.fixture
def transport(config: S3Config) -> S3Transport:
    return S3Transport(BUCKET, config)


@pytest.fixture
def s3root(prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}"
