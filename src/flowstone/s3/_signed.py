"""S3 requests that flowstone signs itself (AWS Signature Version 4), for what obstore cannot do.

obstore parses every key as a path and refuses, or silently rewrites, keys that S3 itself accepts: ASCII control
characters, empty segments ('a//b'), '.' and '..' segments, a leading or trailing '/'. Its listings do not ask for
``encoding-type=url`` either, so a key that XML cannot carry comes back mangled. These few requests go out here
instead: listings (always: they must name every key exactly) and the object requests for keys obstore cannot
address (:func:`obstore_can_address`). They are plain HTTP/1.1 requests made with ``http.client`` on a small pool
of threads, with the same timeouts as obstore's.

Signing needs the credentials themselves, so this works with static credentials (the environment, the shared
credentials file, or S3Config); when obstore finds the credentials on its own (instance metadata, web identity),
:attr:`SignedClient.available` is False and the callers say what cannot be done.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from flowstone.s3.config import S3Config

__all__ = ["Response", "SignedClient", "SignedRequestError", "obstore_can_address"]

#: Given an answer's headers (names in lower case), what takes its body piece by piece.
BodyWriter = Callable[[dict[str, str]], Callable[[bytes], None]]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_READ_PIECE = 512 * 1024
_THREADS = 16
_pool_state: dict[str, Any] = {"pool": None, "pid": None}
_pool_lock = threading.Lock()


def obstore_can_address(key: str) -> bool:
    """Whether obstore sends ``key`` exactly as it is (else flowstone signs the request itself)."""
    if not key or key[0] == "/" or key[-1] == "/" or (not key.isprintable() and _CONTROL.search(key)):
        return False
    if "." not in key and "//" not in key:  # the common case, checked without splitting (it runs per request)
        return True
    return all(part not in ("", ".", "..") for part in key.split("/"))


class Response(NamedTuple):
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class SignedRequestError(Exception):
    """The server answered a signed request with an error (the text carries the status and S3's error code the
    way obstore's errors do, so both are judged alike)."""


def _pool() -> ThreadPoolExecutor:
    with _pool_lock:
        if _pool_state["pid"] != os.getpid():  # a forked child cannot use its parent's threads
            _pool_state.update(pool=ThreadPoolExecutor(_THREADS, thread_name_prefix="flowstone-s3-signed"),
                               pid=os.getpid())  # fmt: skip
        pool: ThreadPoolExecutor = _pool_state["pool"]
        return pool


class _Timeouts:
    """A connection that waits ``connect_timeout`` to connect, then at most ``read_timeout`` for each read."""

    read_timeout: float
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.read_timeout)


class _HTTP(_Timeouts, http.client.HTTPConnection):
    pass


class _HTTPS(_Timeouts, http.client.HTTPSConnection):
    pass


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _encode(text: str, safe: str = "") -> str:
    return quote(text, safe=safe + "-_.~", encoding="utf-8")


class SignedClient:
    """Signed requests to one bucket (path-style or virtual-hosted, as S3Config says)."""

    def __init__(self, bucket: str, config: S3Config) -> None:
        self.bucket, self.config = bucket, config
        self.available = bool(config.access_key_id and config.secret_access_key)
        self.region = config.region or "us-east-1"
        endpoint = urlsplit(config.endpoint_url or f"https://s3.{self.region}.amazonaws.com")
        self._https = endpoint.scheme == "https"
        self._netloc = f"{bucket}.{endpoint.netloc}" if config.virtual_hosted_style else endpoint.netloc
        base = endpoint.path.rstrip("/")
        self._base = base if config.virtual_hosted_style else f"{base}/{_encode(bucket)}"
        self._local = threading.local()

    def path(self, key: str | None) -> str:
        """The request path of ``key`` (None: the bucket itself)."""
        return self._base + "/" + (_encode(key, safe="/") if key is not None else "")

    async def send(self, method: str, key: str | None, query: Iterable[tuple[str, str]] = (),
                   headers: Mapping[str, str] | None = None, body: Any = None,
                   on_body: BodyWriter | None = None) -> Response:  # fmt: skip
        """Make the request on a worker thread (see :meth:`request`)."""
        call = partial(self.request, method, key, tuple(query), dict(headers or {}), body, on_body)
        return await asyncio.get_running_loop().run_in_executor(_pool(), call)

    def request(self, method: str, key: str | None, query: tuple[tuple[str, str], ...], headers: dict[str, str],
                body: Any, on_body: BodyWriter | None) -> Response:  # fmt: skip
        """Send one signed request and read its answer. A 2xx body goes piece by piece to the writer that
        ``on_body`` returns for the answer's headers, if given; an error status raises :class:`SignedRequestError`."""
        query_text = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query))
        target = self.path(key) + (f"?{query_text}" if query_text else "")
        signed = self._sign(method, self.path(key), query_text, headers)
        reused = getattr(self._local, "connection", None) is not None
        try:
            return self._exchange(method, target, signed, body, on_body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._drop_connection()
            if not reused:
                raise
            return self._exchange(method, target, signed, body, on_body)  # the kept-alive connection had closed

    def _connection(self) -> _HTTP | _HTTPS:
        connection: _HTTP | _HTTPS | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = _HTTPS if self._https else _HTTP
            connection = kind(self._netloc, timeout=self.config.connect_timeout)
            connection.read_timeout = self.config.read_timeout
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def _exchange(self, method: str, target: str, headers: dict[str, str], body: Any,
                  on_body: BodyWriter | None) -> Response:  # fmt: skip
        connection = self._connection()
        try:
            if isinstance(body, Path):  # streamed from the file, opened afresh for each try
                with body.open("rb") as file:
                    length = {"content-length": str(os.fstat(file.fileno()).st_size)}
                    connection.request(method, target, body=file, headers={**headers, **length})
            else:
                connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            answer = {name.lower(): value for name, value in response.getheaders()}
            if 200 <= response.status < 300 and on_body is not None and method != "HEAD":
                write = on_body(answer)
                while piece := response.read(_READ_PIECE):
                    write(piece)
                content = b""
            else:
                content = response.read()
        except BaseException:
            self._drop_connection()  # a half-read response leaves the connection unusable
            raise
        if response.status >= 300:
            raise SignedRequestError(f"{method} {target} failed: status code: {response.status}: "
                                     f"{content.decode('utf-8', 'replace')[:500]}")  # fmt: skip
        return Response(response.status, answer, content)

    def _sign(self, method: str, path: str, query_text: str, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with the Host, date, payload and Authorization headers of Signature Version 4."""
        config, now = self.config, datetime.now(timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        signed = {name.lower(): str(value).strip() for name, value in headers.items()}
        signed.update({"host": self._netloc, "x-amz-date": stamp, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        if config.session_token:
            signed["x-amz-security-token"] = config.session_token
        names = sorted(signed)
        canonical = "\n".join([method, path, query_text, *(f"{name}:{signed[name]}" for name in names), "",
                               ";".join(names), "UNSIGNED-PAYLOAD"])  # fmt: skip
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        key = b"AWS4" + str(config.secret_access_key).encode("utf-8")
        for part in (day, self.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        signed["authorization"] = (f"AWS4-HMAC-SHA256 Credential={config.access_key_id}/{scope}, "
                                   f"SignedHeaders={';'.join(names)}, Signature={signature}")  # fmt: skip
        return signed
