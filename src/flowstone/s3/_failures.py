"""What went wrong with an S3 request, in a few words: which failures are worth retrying, and the
:mod:`flowstone.s3.errors` exception (with what to do about it) that a failure becomes in the end.

The storage library's own error text can run to dozens of lines (obstore appends a debug dump). Messages keep one
short reason from it ("connection refused", "timed out", an S3 error code); the whole original stays chained to
the raised exception only with ``S3Config.debug`` (``FLOWSTONE_DEBUG=1``).
"""

from __future__ import annotations

import errno
import re

from obstore import exceptions as obe

from flowstone.s3.config import S3Config
from flowstone.s3.errors import (
    S3AccessDenied,
    S3BucketNotFound,
    S3Exception,
    S3InsufficientDiskSpace,
    S3InvalidRange,
    S3NotFound,
    S3TransientError,
    S3URLException,
)
from flowstone.s3.locations import shown

__all__ = [
    "CONNECT_TIMED_OUT",
    "DeadlineExceeded",
    "InjectedFailure",
    "StalledResponse",
    "describe",
    "http_status",
    "is_transient",
    "translate",
]

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"}
_NETWORK_WORDS = ("error sending request", "connection", "timed out", "timeout", "decoding response body",
                  "broken pipe", "reset by peer", "incomplete", "unexpected eof")  # fmt: skip
#: (words in the error's full text, lowercased) -> the reason a message gives
_NETWORK_REASONS = (
    (("connection refused", "connectionrefused"), "connection refused"),
    (("timed out", "timedout", "deadline has elapsed", "operation timed out"), "timed out"),
    (("dns error", "failed to lookup address", "name or service not known", "nodename nor servname"),
     "the endpoint's host name does not resolve"),
    (("connection reset", "reset by peer", "broken pipe", "connectionreset", "unexpected eof", "incomplete"),
     "the connection broke"),
)  # fmt: skip


#: The reason given when a connection could not be made in ``S3Config.connect_timeout``.
CONNECT_TIMED_OUT = "connecting timed out"


class InjectedFailure(Exception):
    """A transient failure made up by ``S3Config.inject_failures`` (the request was never sent)."""


class StalledResponse(Exception):
    """The server sent nothing for ``S3Config.read_timeout`` seconds (no response, or a body that stopped)."""


class DeadlineExceeded(Exception):
    """An operation, its retries included, ran past ``S3Config.deadline``."""


def http_status(exc: BaseException) -> int | None:
    """The HTTP status in an obstore error (or a signed request's), if the server answered."""
    found = _STATUS.search(str(exc))
    return int(found.group(1)) if found else None


def _s3_code(exc: BaseException) -> str | None:
    found = _CODE.search(str(exc))
    return found.group(1) if found else None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same request again may succeed (throttling, 5xx, dropped or timed-out connections)."""
    if isinstance(exc, InjectedFailure | StalledResponse | TimeoutError):
        return True
    if isinstance(exc, (FileNotFoundError, ValueError, obe.PermissionDeniedError, obe.UnauthenticatedError,
                        obe.AlreadyExistsError, obe.PreconditionError, obe.NotModifiedError,
                        obe.InvalidPathError, obe.NotSupportedError, obe.UnknownConfigurationKeyError,
                        DeadlineExceeded)):  # fmt: skip
        return False
    status = http_status(exc)
    if status is not None:
        return status >= 500 or status in (408, 429) or _s3_code(exc) in _TRANSIENT_CODES
    text = str(exc).lower()
    return isinstance(exc, (obe.GenericError, obe.JoinError, OSError)) and any(w in text for w in _NETWORK_WORDS)


def network_reason(exc: BaseException) -> str | None:
    """"connection refused", "timed out", ... when ``exc`` is a network failure (None if the server answered)."""
    if isinstance(exc, StalledResponse | DeadlineExceeded | TimeoutError):
        return "timed out"
    if http_status(exc) is not None:
        return None
    text = f"{type(exc).__name__} {exc}".lower()
    if "tcp connect error" in text and ("timedout" in text or "timed out" in text):
        return CONNECT_TIMED_OUT
    return next((reason for words, reason in _NETWORK_REASONS if any(w in text for w in words)), None)


def describe(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line account of ``exc`` for a message: its S3 error code or first line, without any secret."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"Error performing \w+ \S+ in [^-]+- ", "", first)
    first = re.sub(r":?\s*<\?xml.*$", "", first)
    code = _s3_code(exc)
    text = f"{code}: {first}" if code and code not in first else first
    reason = network_reason(exc)
    if reason and reason not in text.lower():
        text = reason  # obstore's own words here are only "error sending request" and a debug dump
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= 300 else text[:297] + "..."


def _advice(exc: BaseException, config: S3Config) -> str:
    """What the user can do about a transient failure that outlasted the retries."""
    where, reason = config.where(), network_reason(exc)
    if isinstance(exc, InjectedFailure):
        return "The failures were injected on purpose (S3Config.inject_failures, FLOWSTONE_S3_INJECT_FAILURES)."
    if isinstance(exc, DeadlineExceeded):
        return (f"To give each operation more time, raise FLOWSTONE_S3_DEADLINE (now {config.deadline:g} s); check "
                f"that {where} is up and not overloaded.")  # fmt: skip
    if reason == "connection refused":
        return (f"Nothing accepts connections at {where}: start the S3 server, or point FLOWSTONE_S3_ENDPOINT_URL "
                f"at the one that runs.")  # fmt: skip
    if reason == CONNECT_TIMED_OUT:
        return (f"Nothing took the connection at {where} within {config.connect_timeout:g} s: check the endpoint's "
                f"host and port and that the server is up; if it is only slow to accept, raise "
                f"FLOWSTONE_S3_CONNECT_TIMEOUT.")  # fmt: skip
    if reason == "timed out":
        return (f"{where} stopped answering: check that the server is up (not stopped or overloaded). To wait "
                f"longer, raise FLOWSTONE_S3_READ_TIMEOUT (now {config.read_timeout:g} s) or FLOWSTONE_S3_DEADLINE "
                f"(now {config.deadline:g} s).")  # fmt: skip
    if reason is not None:
        return (f"Check the network and {where}; FLOWSTONE_S3_RETRY_ATTEMPTS (now {config.retry.attempts}) allows "
                f"more attempts.")  # fmt: skip
    return (f"{where} is overloaded or failing: try again later, lower FLOWSTONE_S3_MAX_CONCURRENCY (now "
            f"{config.max_concurrency}) or allow more attempts with FLOWSTONE_S3_RETRY_ATTEMPTS (now "
            f"{config.retry.attempts}).")  # fmt: skip


def translate(exc: BaseException, url: str, action: str, attempts: int, config: S3Config) -> S3Exception:
    """The :mod:`flowstone.s3.errors` exception for ``exc``, raised while doing ``action`` on ``url``."""
    url = shown(url)
    reason = describe(exc, config.secrets())
    code, status = _s3_code(exc), http_status(exc)
    if isinstance(exc, FileNotFoundError) or status == 404:
        if code == "NoSuchBucket":
            bucket = url.split("/")[2] if url.startswith("s3://") else url
            return S3BucketNotFound(f"The bucket of {url} ('{bucket}') does not exist at {config.where()}. Check "
                                    f"the bucket name (and FLOWSTONE_S3_ENDPOINT_URL).")  # fmt: skip
        return S3NotFound(f"{url} does not exist. Check the URL, or pass return_missing=True to get it back as "
                          f"an object with exists=False.")  # fmt: skip
    if isinstance(exc, obe.PermissionDeniedError | obe.UnauthenticatedError) or status in (401, 403):
        return S3AccessDenied(f"Access denied to {url} ({action}): {reason}. Check the AWS credentials "
                              f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) and that they "
                              f"may {action} this object.")  # fmt: skip
    if isinstance(exc, ValueError | obe.InvalidPathError):
        return S3URLException(f"Invalid S3 key in {url}: {reason}.")
    if status == 416 or code == "InvalidRange":
        return S3InvalidRange(f"The range requested from {url} starts at or beyond the end of the object. "
                              f"Ask for a range inside the object (see S3Object.range_info.total_size).")  # fmt: skip
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = exc.filename or "the download folder"
        return S3InsufficientDiskSpace(f"No space left on the local disk to download {url} ({where}): free some, "
                                       f"or pass S3(tmproot=...) on a larger disk.")  # fmt: skip
    if isinstance(exc, obe.PreconditionError) and action == "GET":
        return S3Exception(f"{url} changed while it was being downloaded. Try again once writers are done.")
    if is_transient(exc) or isinstance(exc, DeadlineExceeded):
        tries = f"{attempts} attempt{'s' * (attempts > 1)}"
        return S3TransientError(f"{action} {url} failed after {tries}: {reason}. {_advice(exc, config)}")
    return S3Exception(f"{action} {url} failed: {reason}.")
