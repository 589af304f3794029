"""Retries, failure injection and error translation: what is retried, how often, and what the caller sees."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from flowstone import S3
from flowstone.s3 import S3GetObject
from flowstone.s3._retry import injected_percent
from flowstone.s3.config import RetryPolicy, S3Config
from flowstone.s3.errors import S3AccessDenied, S3Exception, S3TransientError
from flowstone.s3.transport import S3Transport
from tests.s3.conftest import BUCKET
from tests.servers._process import free_ports

SECRET = "do-not-leak-this-secret-0123456789"


def test_injected_failures_are_retried_until_everything_succeeds(config: S3Config, prefix: str) -> None:
    flaky = config.replace(inject_failures=0.3, seed=7, retry=RetryPolicy(attempts=2, base_delay=0.0005))
    transport = S3Transport(BUCKET, flaky)
    items = [(f"{prefix}/{i}", str(i).encode()) for i in range(150)]
    assert transport.put_many(items) == [True] * 150
    got = transport.get_many([key for key, _ in items])
    assert [bytes(g or b"") for g in got] == [data for _, data in items]
    stats = transport.stats
    assert 0.2 < stats.injected_failures / stats.requests < 0.35  # 30% of first attempts, 10% of second ones...
    assert stats.retries == stats.injected_failures  # every injected failure was retried, nothing else failed
    assert stats.requests == 300 + stats.retries  # only the failed requests were sent again


def test_injection_follows_metaflows_rates() -> None:
    """Capped at 90%, then falling on each retry until none fail; 100% fails every attempt."""
    assert [injected_percent(0.9, attempt) for attempt in range(1, 13)] == [90, 30, 45, 15, 22, 7, 10, 3, 4, 1, 1, 0]
    assert [injected_percent(0.5, attempt) for attempt in (1, 2, 3)] == [50, 16, 24]
    assert [injected_percent(1.0, attempt) for attempt in (1, 5, 50)] == [100, 100, 100]


def test_nothing_is_lost_at_90_percent_injected_failures(s3root: str, config: S3Config, tmp_path: Path) -> None:
    """Every call of the client at Metaflow's highest test rate, with only 2 attempts for real failures."""
    tight = config.replace(retry=RetryPolicy(attempts=2, base_delay=0.0005))
    items = {f"d/{i:03d}": f"value {i}" for i in range(120)}
    (tmp_path / "f").write_text("from a file")
    with S3(s3root=s3root, config=tight, inject_failure_rate=90) as s3:
        assert s3.put_many(items.items()) == [(key, f"{s3root}/{key}") for key in items]
        assert s3.put_files([("file", tmp_path / "f")]) == [("file", f"{s3root}/file")]
        assert [o.text for o in s3.get_many(list(items))] == list(items.values())
        assert [o.size for o in s3.info_many(list(items))] == [len(v) for v in items.values()]
        assert [o.key for o in s3.list_recursive(["d"])] == [key[2:] for key in items]
        assert {o.key: o.text for o in s3.get_recursive(["d"])} == {key[2:]: v for key, v in items.items()}
        assert s3.get(S3GetObject("file", None, -4)).text == "file"
        transports = list(s3._transports.values())
    assert sum(t.stats.injected_failures for t in transports) > 300  # the failures were really injected


def test_listings_are_never_failed_by_injection(config: S3Config, prefix: str) -> None:
    transport = S3Transport(BUCKET, config.replace(inject_failures=1.0))
    assert transport.list_recursive(prefix) == [] and transport.stats.injected_failures == 0


def test_injection_is_deterministic(config: S3Config, prefix: str) -> None:
    flaky = config.replace(inject_failures=0.3, seed=3, retry=RetryPolicy(attempts=10, base_delay=0.0005))
    counts = []
    for _ in range(2):
        transport = S3Transport(BUCKET, flaky)
        transport.put_many([(f"{prefix}/{i}", b"x") for i in range(50)])
        counts.append(transport.stats.injected_failures)
    assert counts[0] == counts[1] > 0


def test_exhausted_retries_name_the_url_and_count_attempts(config: S3Config, prefix: str) -> None:
    transport = S3Transport(BUCKET, config.replace(inject_failures=1.0))
    with pytest.raises(S3TransientError, match=f"GET s3://{BUCKET}/{prefix}/k failed after 4 attempts") as info:
        transport.get_many([f"{prefix}/k"])
    assert "injected on purpose" in str(info.value)
    assert (transport.stats.requests, transport.stats.retries) == (4, 3)


def test_an_unreachable_endpoint_is_retried_then_reported(config: S3Config, prefix: str) -> None:
    (port,) = free_ports(1)  # nothing listens there: connections are refused
    transport = S3Transport(BUCKET, config.replace(endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(S3TransientError, match="after 4 attempts"):
        transport.head_many([f"{prefix}/k"])
    assert transport.stats.requests == 4


def test_permanent_errors_are_not_retried(config: S3Config, prefix: str) -> None:
    transport = S3Transport(BUCKET, config.replace(secret_access_key=SECRET))
    with pytest.raises(S3AccessDenied, match=f"s3://{BUCKET}/{prefix}/k"):
        transport.get_many([f"{prefix}/k"])
    assert transport.stats.requests == 1
    good = S3Transport(BUCKET, config)
    assert good.get_many([f"{prefix}/missing"]) == [None] and good.stats.requests == 1


def test_only_the_failing_object_fails_a_batch(config: S3Config, prefix: str) -> None:
    transport = S3Transport(BUCKET, config)
    transport.put_many([(f"{prefix}/a", b"a")])
    with pytest.raises(S3Exception, match="range"):
        transport.get_many([f"{prefix}/a"] * 3, [None, (5, 1), None])
    assert transport.stats.requests == 1 + 3  # the put, then each get once: the good keys were still fetched


def test_credentials_never_appear_in_errors_reprs_or_logs(
    config: S3Config, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    leaky = config.replace(access_key_id="AKIA-LEAKCHECK", secret_access_key=SECRET, session_token=SECRET + "-tok")
    transport = S3Transport(BUCKET, leaky)
    with pytest.raises(S3AccessDenied) as info:
        transport.put_many([(f"{prefix}/k", b"v")])
    flaky = S3Transport(BUCKET, leaky.replace(inject_failures=1.0))
    with caplog.at_level(logging.DEBUG, logger="flowstone.s3"), pytest.raises(S3TransientError) as transient:
        flaky.get_many([f"{prefix}/k"])
    assert caplog.records  # the retries were logged
    shown = [
        str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)),
        str(transient.value), repr(leaky), repr(transport), caplog.text,
    ]  # fmt: skip
    for text in shown:
        assert SECRET not in text and "AKIA-LEAKCHECK" not in text
