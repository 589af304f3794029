"""The UI as one WSGI application: the JSON API under ``/api/``, the front end's files under ``/static/``, and
the page itself for every other path (the front end reads the path to know which view to show, so every view
has an address that can be shared and reloaded)."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flowstone.errors import FlowstoneException
from flowstone.ui.api import RunsApi
from flowstone.ui.http import Request, RequestRefused, Response, Router, json_response
from flowstone.ui.tasks_api import TasksApi

__all__ = ["STATIC", "UiApp"]

STATIC = Path(__file__).resolve().parent / "static"
_log = logging.getLogger("flowstone.ui")


def _static_file(path: str) -> Response:
    relative = path.removeprefix("/static/")
    target = (STATIC / relative).resolve()
    if STATIC not in target.parents or not target.is_file():
        raise RequestRefused(404, f"No file {path}.")
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        content_type = "text/javascript"
    return Response(target.read_bytes(), f"{content_type}; charset=utf-8" if "text" in content_type else content_type,
                    headers=[("Cache-Control", "no-cache")])  # fmt: skip


class UiApp:
    """The WSGI application: ``UiApp()(environ, start_response)``. Reads the client's current datastore."""

    def __init__(self) -> None:
        self.router = Router()
        RunsApi().add_routes(self.router)
        TasksApi().add_routes(self.router)

    def respond(self, request: Request) -> Response:
        if request.path.startswith("/static/"):
            return _static_file(request.path)
        response = self.router.dispatch(request)
        if response is not None:
            return response
        if request.path.startswith("/api/"):
            raise RequestRefused(404, f"No API route {request.path}.")
        return _static_file("/static/index.html")  # a view of the front end: it routes by the path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.respond(request)
        except RequestRefused as exc:
            response = json_response({"error": str(exc)}, exc.status)
        except FlowstoneException as exc:  # the datastore refused: say what it said
            response = json_response({"error": f"{exc.headline}: {exc}"}, 500)
        except Exception as exc:
            _log.exception("%s %s failed", request.method, request.path)
            response = json_response({"error": f"{type(exc).__name__}: {exc}"}, 500)
        return response.send(start_response)
