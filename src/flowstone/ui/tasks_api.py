"""The UI's JSON API over one task: its summary, attempts, artifacts, cards, metadata; an artifact's preview and
download; a card's page; its logs (from a line on, for following a running task); and why it ran or was reused."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from flowstone.client.summaries import summarize_task, task_attempts
from flowstone.client.tasks import Task
from flowstone.errors import DataException, FlowstoneException
from flowstone.ui.http import Request, RequestRefused, Response, Router, json_response
from flowstone.ui.previews import MAX_PREVIEW_BYTES, download, preview

__all__ = ["TasksApi"]

TASK = "{flow}/{run_id}/{step}/{task_id}"
#: A card's page runs its own scripts (charts), but as a page of no origin: it cannot call this API, read the UI's
#: pages or storage, not even when opened alone (the iframe that shows it is sandboxed the same way).
CARD_SANDBOX = "sandbox allow-scripts allow-popups"


def open_task(request: Request, flow: str, run_id: str, step: str, task_id: str) -> Task:
    """The task, at the attempt the query names (``?attempt=N``), else its latest."""
    attempt = request.int_arg("attempt", -1)
    try:
        return Task(f"{flow}/{run_id}/{step}/{task_id}", attempt if attempt >= 0 else None, _namespace_check=False)
    except FlowstoneException as exc:
        raise RequestRefused(404, str(exc)) from None


def _cards(task: Task) -> list[Any]:
    from flowstone.cards import get_cards  # imported when a task is first shown, not when the UI starts

    return list(get_cards(task))  # a reused task's are its origin's (its metadata lists them)


def _metadata(task: Task) -> list[dict[str, Any]]:
    return [{"name": m.name, "value": m.value, "type": m.type, "created_at": m.created_at} for m in task.metadata]


class TasksApi:
    """Handlers of the task routes."""

    def add_routes(self, router: Router) -> None:
        router.add("GET", f"/api/tasks/{TASK}", self.task)
        router.add("GET", f"/api/tasks/{TASK}/why", self.why)
        router.add("GET", f"/api/tasks/{TASK}/logs/{{stream}}", self.logs)
        router.add("GET", f"/api/tasks/{TASK}/artifacts/{{name}}", self.artifact)
        router.add("GET", f"/api/tasks/{TASK}/artifacts/{{name}}/download", self.download)
        router.add("GET", f"/api/tasks/{TASK}/cards/{{card_hash}}", self.card)

    def task(self, request: Request, **where: str) -> Response:
        task = open_task(request, **where)
        run_ended = task._run().status != "running"
        summary = summarize_task(task, run_ended)
        error = task.exception
        return json_response(
            {
                "task": summary._asdict() | {"reused": summary.reused, "pathspec": task.pathspec},
                "attempts": task_attempts(task),
                "artifacts": [{"name": a.id, "type": a.type, "size": a.size, "sha": a.sha} for a in task],
                "cards": [{"type": c.type, "id": c.id, "hash": c.hash, "final": c.is_final} for c in _cards(task)],
                "metadata": _metadata(task),
                "exception": error and {"type": error.type, "message": error.exception, "traceback": error.stacktrace},
            }
        )

    def why(self, request: Request, **where: str) -> Response:
        from flowstone.runtime.explain import explain_task  # the cache's own words (imported only when asked)

        task = open_task(request, **where)
        try:
            lines = list(explain_task(task._fds, task._get_datastore()))
        except DataException as exc:
            lines = [f"{task.pathspec}: the cache decision cannot be explained: {exc}"]
        return json_response({"lines": lines})

    def logs(self, request: Request, stream: str, **where: str) -> Response:
        if stream not in ("stdout", "stderr"):
            raise RequestRefused(404, f"Unknown log stream '{stream}': use stdout or stderr.")
        task = open_task(request, **where)
        since = max(0, request.int_arg("since", 0))
        # loglines gives naive UTC times (as Metaflow does): sent as seconds since the epoch
        lines = [(None if when is None else when.replace(tzinfo=timezone.utc).timestamp(), line)
                 for when, line in task.loglines(stream)]  # fmt: skip
        return json_response({"lines": lines[since:], "next": max(since, len(lines)), "finished": task.finished})

    def _artifact(self, request: Request, name: str, where: dict[str, str]) -> Any:
        task = open_task(request, **where)
        if name not in task:
            raise RequestRefused(404, f"Task '{task.pathspec}' has no artifact '{name}'.")
        return task[name]

    def artifact(self, request: Request, name: str, **where: str) -> Response:
        artifact = self._artifact(request, name, where)
        found = {"name": name, "type": artifact.type, "size": artifact.size, "sha": artifact.sha}
        if artifact.size > MAX_PREVIEW_BYTES:
            return json_response(found | {"preview": {"kind": "too_large"}})
        return json_response(found | {"preview": preview(artifact.data)})

    def download(self, request: Request, name: str, **where: str) -> Response:
        artifact = self._artifact(request, name, where)
        body, content_type, file_name = download(name, artifact.data)
        return Response(body, content_type, headers=[("Content-Disposition", f'attachment; filename="{file_name}"')])

    def card(self, request: Request, card_hash: str, **where: str) -> Response:
        """A card's page (by its hash: a live card's every render has its own), sandboxed, kept by the browser."""
        task = open_task(request, **where)
        card = next((c for c in _cards(task) if c.hash == card_hash), None)
        if card is None:
            raise RequestRefused(404, f"Task '{task.pathspec}' has no card {card_hash}.")
        headers = [("Content-Security-Policy", CARD_SANDBOX), ("X-Content-Type-Options", "nosniff"),
                   ("Cache-Control", "private, max-age=86400, immutable")]  # fmt: skip
        return Response(card.get().encode("utf-8"), "text/html; charset=utf-8", headers=headers)
