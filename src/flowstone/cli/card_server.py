"""``card server``: a local web page that shows the cards of a run (the latest one, followed as new runs start,
or the one named), with the cards of running tasks kept up to date as their steps refresh them.

Routes: ``/`` the viewer page; ``/runinfo`` the run's cards (JSON); ``/card/<task pathspec>/<card>`` a card's
HTML (its latest render); ``/data/<task pathspec>/<card>`` its latest data update and whether the task is done.
The server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

from flowstone.cards.html import static_text

__all__ = ["CardViewer", "make_server"]


class CardViewer:
    """What the server shows: the cards of one run of a flow."""

    def __init__(self, flow_name: str, run_id: str | None = None, poll_interval: float = 5,
                 max_cards: int = 30) -> None:  # fmt: skip
        self.flow_name, self.run_id = flow_name, run_id
        self.poll_interval, self.max_cards = poll_interval, max_cards

    def run(self) -> Any:
        from flowstone.client import Flow, Run

        if self.run_id is not None:
            return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)
        try:
            return Flow(self.flow_name).latest_run  # a newer run is picked up at the next look
        except Exception:
            return None

    def run_info(self) -> tuple[int, dict[str, Any]]:
        from flowstone.cards import get_cards

        run = self.run()
        if run is None:
            return 404, {"status": "No Run Found", "flow": self.flow_name}
        cards: list[dict[str, Any]] = []
        for step in reversed(list(run)):
            for task in reversed(list(step)):
                for card in get_cards(task):
                    if len(cards) >= self.max_cards:
                        break
                    cards.append({"task": task.pathspec, "label": f"{step.id}/{task.id} {card.type}"
                                  + (f" ({card.id})" if card.id else ""), "card": f"{task.pathspec}/{card.uuid}",
                                  "card_object": {"hash": card.hash, "type": card.type, "id": card.id},
                                  "finished": task.finished})  # fmt: skip
        return 200, {"status": "ok", "flow": self.flow_name, "run_id": run.id, "cards": cards,
                     "poll_interval": self.poll_interval}  # fmt: skip

    @staticmethod
    def find(card_path: str) -> tuple[Any, Any]:
        """(the task, its card) named by ``Flow/run/step/task/<card uuid>``; the card is None if not found."""
        from flowstone.cards import get_cards
        from flowstone.client import Task

        pathspec, _, wanted = card_path.strip("/").rpartition("/")
        task = Task(pathspec, _namespace_check=False)
        return task, next((c for c in get_cards(task) if wanted in (c.uuid, c.hash)), None)

    def card_data(self, card_path: str) -> tuple[int, dict[str, Any]]:
        task, card = self.find(card_path)
        if card is None:
            return 404, {"status": "Card Not Found"}
        complete = task.finished or bool(task.exception)
        status = "Task Failed" if task.exception else "ok"
        return 200, {"status": status, "is_complete": complete, "payload": card.get_data()}


class _Handler(BaseHTTPRequestHandler):
    viewer: CardViewer

    def do_GET(self) -> None:
        path = unquote(urlparse(self.path).path)
        try:
            if path in ("/", "/index.html"):
                page = static_text("viewer.html").replace("__POLL_INTERVAL__", json.dumps(self.viewer.poll_interval))
                self._send(200, page.encode("utf-8"), "text/html")
            elif path == "/runinfo":
                self._json(*self.viewer.run_info())
            elif path.startswith("/card/"):
                _, card = self.viewer.find(path[len("/card/") :])
                if card is None:
                    self._send(404, b"Card not found", "text/plain")
                else:
                    self._send(200, card.get().encode("utf-8"), "text/html")
            elif path.startswith("/data/"):
                self._json(*self.viewer.card_data(path[len("/data/") :]))
            else:
                self._send(404, b"Not found", "text/plain")
        except Exception as exc:  # a bad request shows its reason; the server goes on
            self._json(404, {"status": f"{type(exc).__name__}: {exc}"})

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, json.dumps(body, default=str).encode("utf-8"), "application/json")

    def _send(self, code: int, body: bytes, mime: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", f"{mime}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not logged: the page polls


def make_server(viewer: CardViewer, host: str = "127.0.0.1", port: int = 8324) -> ThreadingHTTPServer:
    """The server (not started: call ``serve_forever``); port 0 picks a free port (``server_address`` says which)."""
    handler = type("CardViewerHandler", (_Handler,), {"viewer": viewer})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
