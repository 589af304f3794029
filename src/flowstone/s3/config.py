"""How the S3 transport connects and behaves: endpoint, credentials, concurrency, part size, retries, timeouts.

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


_DEFAULT = Settings._field_defaults  # the settings hold every default, so the variables and the config agree


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a transient failure (5xx, throttling, dropped connection, timeout) up to ``attempts`` times in all.

    The delay before retry ``n`` (1-based) is drawn uniformly from ``[0, min(max_delay, base_delay * 2**(n-1))]``
    ("full jitter"), so clients that failed together do not retry together.
    """

    attempts: int = _DEFAULT["s3_retry_attempts"]
    base_delay: float = _DEFAULT["s3_retry_base_delay"]
    max_delay: float = _DEFAULT["s3_retry_max_delay"]

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


@dataclass(frozen=True)
class S3Config:
    """Everything the S3 transport needs to reach a store, how hard to push it and how long to wait for it.

    Each field has a ``FLOWSTONE_S3_*`` variable (see docs/s3.md); :meth:`from_settings` reads them.

    How long a request may take is bounded three ways: ``connect_timeout`` (opening a connection),
    ``read_timeout`` (the longest silence: from sending a request to its first byte back, or between two pieces
    of a body) and ``request_timeout`` (one HTTP request, body included). ``deadline`` bounds one operation (a
    HEAD, a GET of an object or a part, a PUT, a page of a listing), its retries and their waits included; an
    upload gets it once per ``part_size * part_concurrency`` bytes (a round of parts). A batch still running after
    ``progress_after`` seconds reports its progress on stderr (0: never).

    ``inject_failures`` (a rate in ``[0, 1]``) makes that fraction of requests fail with a transient error before
    they are sent, decided deterministically from ``seed`` and the request, so tests can exercise retries.
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    max_concurrency: int = _DEFAULT["s3_max_concurrency"]
    #: Parts of multipart uploads (each is buffered whole while it is sent).
    part_size: int = _DEFAULT["s3_part_size_mb"] * MiB
    #: Ranges of large downloads, fetched in parallel (streamed: their size does not cost memory).
    download_part_size: int = _DEFAULT["s3_download_part_size_mb"] * MiB
    #: Parts of one multipart upload sent at once (each upload also holds one slot of ``max_concurrency``).
    part_concurrency: int = _DEFAULT["s3_part_concurrency"]
    #: Parts of multipart uploads held at once across a batch (``part_concurrency`` per upload); each buffers
    #: ``part_size`` bytes, so uploads hold about ``parts_in_flight * part_size``.
    parts_in_flight: int = _DEFAULT["s3_parts_in_flight"]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = _DEFAULT["s3_connect_timeout"]
    read_timeout: float = _DEFAULT["s3_read_timeout"]
    request_timeout: float = _DEFAULT["s3_request_timeout"]
    deadline: float = _DEFAULT["s3_deadline"]
    progress_after: float = _DEFAULT["s3_progress_after"]
    virtual_hosted_style: bool = _DEFAULT["s3_virtual_hosted_style"]
    #: Server-side encryption asked for on upload ('AES256', 'aws:kms'); None: the bucket's default.
    server_side_encryption: str | None = None
    inject_failures: float = 0.0
    seed: int = 0
    #: Keep the storage library's own error (with its debug report) chained to the errors raised.
    debug: bool = False

    def __post_init__(self) -> None:
        if min(self.max_concurrency, self.part_concurrency, self.parts_in_flight) < 1:
            raise ConfigurationError(
                "S3Config: max_concurrency, part_concurrency and parts_in_flight must be at least 1 "
                "(FLOWSTONE_S3_MAX_CONCURRENCY, FLOWSTONE_S3_PART_CONCURRENCY, FLOWSTONE_S3_PARTS_IN_FLIGHT)"
            )
        if self.part_size < 5 * MiB:
            raise ConfigurationError("S3Config: part_size must be at least 5 MiB (the S3 minimum for multipart "
                                     "parts; FLOWSTONE_S3_PART_SIZE_MB)")  # fmt: skip
        if self.download_part_size < 1 * MiB:
            raise ConfigurationError("S3Config: download_part_size must be at least 1 MiB "
                                     "(FLOWSTONE_S3_DOWNLOAD_PART_SIZE_MB)")  # fmt: skip
        if not 0.0 <= self.inject_failures <= 1.0:
            raise ConfigurationError("S3Config: inject_failures is a rate between 0 and 1")
        if self.retry.attempts < 1:
            raise ConfigurationError("S3Config: retry.attempts must be at least 1 (FLOWSTONE_S3_RETRY_ATTEMPTS)")
        for name in ("connect_timeout", "read_timeout", "request_timeout", "deadline", "progress_after"):
            seconds = getattr(self, name)
            if seconds < 0 or (seconds == 0 and name != "progress_after"):
                raise ConfigurationError(f"S3Config: {name} must be a {'positive ' * (name != 'progress_after')}"
                                         f"number of seconds (FLOWSTONE_S3_{name.upper()}), not {seconds}")  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None, **overrides: Any) -> S3Config:
        """The config for ``settings`` (endpoint, limits, timeouts) and the AWS environment (region, credentials).

        Keyword ``overrides`` set any field directly (e.g. ``max_concurrency=16``).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "endpoint_url": settings.s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            **_credentials(env),
            **_from_settings(settings),
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

    def where(self) -> str:
        """The endpoint requests go to, for messages."""
        return self.endpoint_url or f"AWS S3 ({self.region or 'us-east-1'})"


def _from_settings(settings: Settings) -> dict[str, Any]:
    """The fields that come from flowstone's own settings (``FLOWSTONE_S3_*``)."""
    return {
        "inject_failures": settings.s3_inject_failures or None,
        "max_concurrency": settings.s3_max_concurrency,
        "part_size": settings.s3_part_size_mb * MiB,
        "download_part_size": settings.s3_download_part_size_mb * MiB,
        "part_concurrency": settings.s3_part_concurrency,
        "parts_in_flight": settings.s3_parts_in_flight,
        "retry": RetryPolicy(settings.s3_retry_attempts, settings.s3_retry_base_delay, settings.s3_retry_max_delay),
        "connect_timeout": settings.s3_connect_timeout,
        "read_timeout": settings.s3_read_timeout,
        "request_timeout": settings.s3_request_timeout,
        "deadline": settings.s3_deadline,
        "progress_after": settings.s3_progress_after,
        "virtual_hosted_style": settings.s3_virtual_hosted_style,
        "server_side_encryption": settings.s3_server_side_encryption,
        "debug": settings.debug,
    }


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
