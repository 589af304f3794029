"""S3Config: built from settings and the AWS environment, validated, and silent about credentials."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flowstone.errors import ConfigurationError
from flowstone.s3.config import RetryPolicy, S3Config
from flowstone.settings import Settings


def test_from_settings_takes_the_endpoint_and_the_aws_environment(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}  # fmt: skip
    config = S3Config.from_settings(Settings(s3_endpoint_url="http://127.0.0.1:9"), env, max_concurrency=8)
    assert (config.endpoint_url, config.region, config.max_concurrency) == ("http://127.0.0.1:9", "eu-west-1", 8)
    assert (config.access_key_id, config.secret_access_key, config.session_token) == ("id", "secret", None)


def test_from_env_reads_flowstone_settings() -> None:
    env = {"FLOWSTONE_S3_ENDPOINT_URL": "http://localhost:1", "AWS_DEFAULT_REGION": "us-west-2"}
    config = S3Config.from_env(env)
    assert (config.endpoint_url, config.region) == ("http://localhost:1", "us-west-2")


def test_credentials_come_from_the_profile_when_not_in_the_environment(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = d\naws_secret_access_key = ds\n"
        "[work]\naws_access_key_id = w\naws_secret_access_key = ws\naws_session_token = wt\n"
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_PROFILE": "work"}
    config = S3Config.from_settings(Settings(), env)
    assert (config.access_key_id, config.secret_access_key, config.session_token) == ("w", "ws", "wt")
    assert S3Config.from_settings(Settings(), {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x")}).secrets() == ()


def test_repr_hides_credentials() -> None:
    config = S3Config(access_key_id="AKIDVISIBLE", secret_access_key="SECRETVALUE", session_token="TOKENVALUE")
    for text in (repr(config), str(config)):
        assert "AKIDVISIBLE" not in text and "SECRETVALUE" not in text and "TOKENVALUE" not in text
    assert set(config.secrets()) == {"AKIDVISIBLE", "SECRETVALUE", "TOKENVALUE"}


@pytest.mark.parametrize(
    "changes",
    [{"max_concurrency": 0}, {"part_size": 1024}, {"inject_failures": 1.5}, {"retry": RetryPolicy(attempts=0)}],
)
def test_invalid_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="S3Config"):
        S3Config(**changes)  # type: ignore[arg-type]


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy, rng = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0), random.Random(0)
    for retry, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays) and max(delays) > cap * 0.8
