"""How the S3 transport connects and behaves: endpoint, credentials, concurrency, part size, retries.

:class:`S3Config` is frozen and hashable. Build it from :class:`~flowstone.settings.Settings` (the endpoint)
and the standard AWS environment (region, credentials) with :meth:`S3Config.from_settings`; credentials not
found there come from the shared AWS credentials file, and failing that from obstore's own chain (web identity,
container or instance metadata). Credentials never appear in the config's ``repr``.
"""

from __future__ import annotations

import configparser
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flowstone.errors import ConfigurationError
from flowstone.settings import Settings

__all__ = ["MiB", "RetryPolicy", "S3Config"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a transient failure (5xx, throttling, dropped connection, timeout) up to ``attempts`` times in all.

    The delay before retry ``n`` (1-based) is drawn uniformly from ``[0, min(max_delay, base_delay * 2**(n-1))]``
    ("full jitter"), so clients that failed together do not retry together.
    """

    attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 10.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


@dataclass(frozen=True)
class S3Config:
    """Everything the S3 transport needs to reach a store and how hard to push it.

    ``inject_failures`` (a rate in ``[0, 1]``) makes that fraction of requests fail with a transient error before
    they are sent, decided deterministically from ``seed`` and the request, so tests can exercise retries.
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    max_concurrency: int = 64
    #: Parts of multipart uploads (each is buffered whole while it is sent).
    part_size: int = 8 * MiB
    #: Ranges of large downloads, fetched in parallel (streamed: their size does not cost memory).
    download_part_size: int = 16 * MiB
    #: Parts of one multipart upload sent at once (each upload also holds one slot of ``max_concurrency``).
    part_concurrency: int = 4
    #: Parts of multipart uploads held at once across a batch (``part_concurrency`` per upload); each buffers
    #: ``part_size`` bytes, so uploads hold about ``parts_in_flight * part_size``.
    parts_in_flight: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 10.0
    #: Upper bound for one request, body included; parts keep requests short, single PUTs may be large.
    request_timeout: float = 300.0
    virtual_hosted_style: bool = False
    inject_failures: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.max_concurrency, self.part_concurrency, self.parts_in_flight) < 1:
            raise ConfigurationError(
                "S3Config: max_concurrency, part_concurrency and parts_in_flight must be at least 1"
            )
        if self.part_size < 5 * MiB:
            raise ConfigurationError("S3Config: part_size must be at least 5 MiB (the S3 minimum for multipart parts)")
        if self.download_part_size < 1 * MiB:
            raise ConfigurationError("S3Config: download_part_size must be at least 1 MiB")
        if not 0.0 <= self.inject_failures <= 1.0:
            raise ConfigurationError("S3Config: inject_failures is a rate between 0 and 1")
        if self.retry.attempts < 1:
            raise ConfigurationError("S3Config: retry.attempts must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None, **overrides: Any) -> S3Config:
        """The config for ``settings`` (endpoint) and the AWS environment (region, credentials).

        Keyword ``overrides`` set any field directly (e.g. ``max_concurrency=16``).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "endpoint_url": settings.s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "inject_failures": settings.s3_inject_failures or None,
            **_credentials(env),
        }
        values.update(overrides)
        return cls(**{name: value for name, value in values.items() if value not in (None, "")})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> S3Config:
        """Like :meth:`from_settings`, with settings read from the same environment."""
        return cls.from_settings(Settings.from_env(environ), environ, **overrides)

    def replace(self, **changes: Any) -> S3Config:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def secrets(self) -> tuple[str, ...]:
        """The credential values, so error messages can be scrubbed of them."""
        values = (self.access_key_id, self.secret_access_key, self.session_token)
        return tuple(value for value in values if value)


def _credentials(env: Mapping[str, str]) -> dict[str, str | None]:
    """Static credentials from the environment, else from the shared credentials file's profile, else none."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return {
            "access_key_id": env["AWS_ACCESS_KEY_ID"],
            "secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "session_token": env.get("AWS_SESSION_TOKEN"),
        }
    path = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "credentials")
    profile = env.get("AWS_PROFILE") or "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except (OSError, configparser.Error):
        return {}
    if not parser.has_option(profile, "aws_access_key_id") or not parser.has_option(profile, "aws_secret_access_key"):
        return {}
    return {
        "access_key_id": parser.get(profile, "aws_access_key_id"),
        "secret_access_key": parser.get(profile, "aws_secret_access_key"),
        "session_token": parser.get(profile, "aws_session_token", fallback=None),
    }
