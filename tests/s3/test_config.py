"""S3Config: built from settings and the AWS environment, validated, and silent about credentials."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flowstone.errors import ConfigurationError
from flowstone.s3.config import MiB, RetryPolicy, S3Config
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


S3_VARIABLES = {
    "FLOWSTONE_S3_MAX_CONCURRENCY": ("8", "max_concurrency", 8),
    "FLOWSTONE_S3_RETRY_ATTEMPTS": ("3", "retry", RetryPolicy(3)),
    "FLOWSTONE_S3_CONNECT_TIMEOUT": ("2.5", "connect_timeout", 2.5),
    "FLOWSTONE_S3_READ_TIMEOUT": ("4", "read_timeout", 4.0),
    "FLOWSTONE_S3_REQUEST_TIMEOUT": ("30", "request_timeout", 30.0),
    "FLOWSTONE_S3_DEADLINE": ("9", "deadline", 9.0),
    "FLOWSTONE_S3_PROGRESS_AFTER": ("0", "progress_after", 0.0),
    "FLOWSTONE_S3_PART_SIZE_MB": ("16", "part_size", 16 * MiB),
    "FLOWSTONE_S3_DOWNLOAD_PART_SIZE_MB": ("4", "download_part_size", 4 * MiB),
    "FLOWSTONE_S3_PART_CONCURRENCY": ("2", "part_concurrency", 2),
    "FLOWSTONE_S3_PARTS_IN_FLIGHT": ("6", "parts_in_flight", 6),
    "FLOWSTONE_S3_VIRTUAL_HOSTED_STYLE": ("1", "virtual_hosted_style", True),
    "FLOWSTONE_S3_SERVER_SIDE_ENCRYPTION": ("aws:kms", "server_side_encryption", "aws:kms"),
    "FLOWSTONE_S3_INJECT_FAILURES": ("0.25", "inject_failures", 0.25),
    "FLOWSTONE_DEBUG": ("1", "debug", True),
}


@pytest.mark.parametrize("variable", sorted(S3_VARIABLES))
def test_every_setting_has_a_variable(variable: str) -> None:
    raw, field, expected = S3_VARIABLES[variable]
    assert getattr(S3Config.from_env({variable: raw}), field) == expected


def test_the_defaults_bound_every_wait() -> None:
    config = S3Config()
    assert (config.connect_timeout, config.read_timeout, config.deadline, config.progress_after) == (10, 20, 60, 10)
    assert config.request_timeout < 300 and config.retry.attempts == 6


def test_metaflows_encryption_variable_is_read() -> None:
    config = S3Config.from_env({"METAFLOW_S3_SERVER_SIDE_ENCRYPTION": "AES256"})
    assert config.server_side_encryption == "AES256"


@pytest.mark.parametrize("variable", ["FLOWSTONE_S3_READ_TIMEOUT", "FLOWSTONE_S3_DEADLINE"])
def test_a_wait_must_be_positive(variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        S3Config.from_env({variable: "0"})


def test_docs_list_every_s3_setting() -> None:
    """Every S3 setting a user might change is in docs/s3.md under its variable."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "s3.md").read_text()
    names = [f"FLOWSTONE_{name.upper()}" for name in Settings._fields if name.startswith("s3_")] + ["FLOWSTONE_DEBUG"]
    assert [name for name in names if f"`{name}`" not in docs] == []
