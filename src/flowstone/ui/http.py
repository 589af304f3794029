"""The little HTTP the UI needs, over WSGI: requests, responses and a router of path patterns.

Written here rather than taken from a web framework: the UI has a dozen routes, and a framework would cost more
start-up time than the whole app (see docs/ui.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from flowstone.errors import FlowstoneException

__all__ = ["Request", "RequestRefused", "Response", "Router", "json_response"]

_STATUS_TEXT = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                413: "Payload Too Large", 500: "Internal Server Error"}  # fmt: skip
MAX_BODY_BYTES = 1 << 20


class RequestRefused(FlowstoneException):
    """A request the UI refuses: the HTTP status and the message sent back (as JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """What a handler reads of a request: method, path, query parameters, JSON body."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "/") or "/"
        self.path: str = raw_path.encode("latin-1").decode("utf-8", "replace")  # WSGI hands paths as latin-1
        self.query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        value = self.query.get(name)
        return value if value not in (None, "") else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return default if value is None else int(value)
        except ValueError:
            raise RequestRefused(400, f"Query parameter '{name}' must be a whole number, not {value!r}.") from None

    def json(self) -> Any:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            raise RequestRefused(413, "The request body is too large.")
        body = self.environ["wsgi.input"].read(length) if length else b""
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise RequestRefused(400, "The request body is not JSON.") from None


class Response:
    """A status, headers and a body of bytes."""

    def __init__(self, body: bytes, content_type: str, status: int = 200,
                 headers: Iterable[tuple[str, str]] = ()) -> None:  # fmt: skip
        self.body, self.status = body, status
        self.headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers]

    def send(self, start_response: Callable[..., Any]) -> list[bytes]:
        start_response(f"{self.status} {_STATUS_TEXT.get(self.status, 'OK')}", self.headers)
        return [self.body]


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(value, separators=(",", ":"), default=str, allow_nan=False).encode("utf-8")
    return Response(body, "application/json", status, [("Cache-Control", "no-store")])


Handler = Callable[..., Response]


class Router:
    """Routes ``METHOD /path/{name}/...`` patterns to handlers called as ``handler(request, **names)``.

    A ``{name}`` matches one path segment; ``{name:path}`` matches the rest of the path.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)(:path)?\}", lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                       pattern)  # fmt: skip
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def dispatch(self, request: Request) -> Response | None:
        """The handler's response, or None if no route matches the path."""
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            return handler(request, **match.groupdict())  # PATH_INFO comes decoded
        if allowed:
            raise RequestRefused(405, f"{request.method} is not allowed on {request.path}.")
        return None
