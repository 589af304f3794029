"""The UI's JSON API over flows and runs: flows with their latest runs, a flow's runs (filtered, paged), a run
(its graph, steps and tasks), tag changes and the comparison of two runs. Everything is read through the
Client API (:mod:`flowstone.client`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowstone.client.runs import Flow, Metaflow, Run
from flowstone.client.summaries import RunFilter, RunSummaries, RunSummary, TaskSummary, run_count, run_graph, run_tasks
from flowstone.client.tags import TaggingError
from flowstone.errors import FlowstoneException, FlowstoneNotFound
from flowstone.ui.compare import compare_runs
from flowstone.ui.http import Request, RequestRefused, Response, Router, json_response

__all__ = ["RunsApi"]

STATUSES = ("running", "succeeded", "failed", "interrupted")
MAX_PAGE = 500


def open_flow(name: str) -> Flow:
    try:
        return Flow(name, _namespace_check=False)
    except FlowstoneException as exc:
        raise RequestRefused(404, str(exc)) from None


def open_run(flow: str, run_id: str) -> Run:
    try:
        return Run(f"{flow}/{run_id}", _namespace_check=False)
    except FlowstoneException as exc:
        raise RequestRefused(404, str(exc)) from None


def run_json(summary: RunSummary) -> dict[str, Any]:
    found = summary._asdict()
    found["tasks_ran"] = None if summary.tasks_done is None else summary.tasks_done - (summary.tasks_reused or 0)
    return found


def _step_states(graph: dict[str, Any], tasks: list[TaskSummary]) -> dict[str, dict[str, Any]]:
    """Per step: its tasks' statuses counted, how many were reused, when it started and ended."""
    steps: dict[str, dict[str, Any]] = {s["name"]: {"tasks": 0, "status": {}, "reused": 0, "started_at": None,
                                                     "finished_at": None} for s in graph.get("steps", [])}  # fmt: skip
    by_step: dict[str, list[TaskSummary]] = {}
    for task in tasks:
        by_step.setdefault(task.step, []).append(task)
    for name, found in by_step.items():
        starts = [t.started_at for t in found if t.started_at is not None]
        ends = [t.finished_at for t in found if t.finished_at is not None]
        steps[name] = {"tasks": len(found), "status": dict(Counter(t.status for t in found)),
                       "reused": sum(t.reused for t in found), "started_at": min(starts) if starts else None,
                       "finished_at": max(ends) if ends else None}  # fmt: skip
    return steps


class RunsApi:
    """Handlers of the flow and run routes; keeps the summaries of ended runs between requests."""

    def __init__(self) -> None:
        self.summaries = RunSummaries()

    def add_routes(self, router: Router) -> None:
        router.add("GET", "/api/flows", self.flows)
        router.add("GET", "/api/flows/{flow}/runs", self.runs)
        router.add("GET", "/api/runs/{flow}/{run_id}", self.run)
        router.add("POST", "/api/runs/{flow}/{run_id}/tags", self.change_tags)
        router.add("GET", "/api/compare/{flow}/{run_a}/{run_b}", self.compare)

    def flows(self, request: Request) -> Response:
        latest = min(request.int_arg("latest", 5), MAX_PAGE)
        found = []
        for flow in Metaflow():
            runs, _ = self.summaries.runs(flow, limit=latest)
            found.append({"name": flow.id, "runs": run_count(flow), "latest": [run_json(r) for r in runs]})
        return json_response({"flows": found})

    def runs(self, request: Request, flow: str) -> Response:
        status = request.arg("status")
        if status is not None and status not in STATUSES:
            raise RequestRefused(400, f"Unknown status '{status}': use one of {', '.join(STATUSES)}.")
        where = RunFilter(status, request.arg("user"), request.arg("tag"))
        limit = max(1, min(request.int_arg("limit", 50), MAX_PAGE))
        found, more = self.summaries.runs(open_flow(flow), where, limit, request.arg("before"))
        return json_response({"flow": flow, "runs": [run_json(r) for r in found], "more": more})

    def run(self, request: Request, flow: str, run_id: str) -> Response:
        run = open_run(flow, run_id)
        summary = self.summaries.summarize(run)
        tasks = run_tasks(run)
        graph = run_graph(run)
        return json_response({
            "run": run_json(summary) | {"parameters": run.parameters},
            "graph": graph,
            "steps": _step_states(graph, tasks),
            "tasks": [t._asdict() | {"reused": t.reused} for t in tasks],
        })  # fmt: skip

    def change_tags(self, request: Request, flow: str, run_id: str) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise RequestRefused(400, 'Send {"add": [...], "remove": [...]}.')
        run = open_run(flow, run_id)
        try:
            run.replace_tags(body.get("remove") or [], body.get("add") or [])
        except TaggingError as exc:
            raise RequestRefused(400, str(exc)) from None
        return json_response({"user_tags": sorted(run.user_tags)})

    def compare(self, request: Request, flow: str, run_a: str, run_b: str) -> Response:
        try:
            return json_response(compare_runs(open_run(flow, run_a), open_run(flow, run_b)))
        except FlowstoneNotFound as exc:
            raise RequestRefused(404, str(exc)) from None
