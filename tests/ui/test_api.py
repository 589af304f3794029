"""The UI's JSON API, served by ``flowstone ui`` in a subprocess over real runs."""

from __future__ import annotations

import pickle

from tests.ui.helpers import UiRuns, UiServer


def test_flows_list_every_flow_with_its_latest_runs_newest_first(ui_server: UiServer, ui_runs: UiRuns) -> None:
    status, body = ui_server.get("/api/flows")
    assert status == 200
    (flow,) = body["flows"]
    assert flow["name"] == "UiFlow" and flow["runs"] == 4
    assert [r["run_id"] for r in flow["latest"]] == [ui_runs.failed, ui_runs.bob, ui_runs.cached, ui_runs.fresh]
    cached = flow["latest"][2]
    assert (cached["status"], cached["tasks_done"], cached["tasks_reused"], cached["tasks_ran"]) == ("succeeded", 10,
                                                                                                    10, 0)  # fmt: skip
    assert flow["latest"][0]["status"] == "failed" and flow["latest"][1]["user_tags"] == ["best"]


def test_runs_filter_by_status_user_and_tag_and_page(ui_server: UiServer, ui_runs: UiRuns) -> None:
    def ids(query: str) -> list[str]:
        status, body = ui_server.get(f"/api/flows/UiFlow/runs?{query}")
        assert status == 200, body
        return [r["run_id"] for r in body["runs"]]

    assert ids("status=failed") == [ui_runs.failed]
    assert ids("user=bob") == [ui_runs.bob]
    assert ids("tag=best") == [ui_runs.bob]
    assert ids("tag=user:alice&status=succeeded") == [ui_runs.cached, ui_runs.fresh]
    _status, page = ui_server.get("/api/flows/UiFlow/runs?limit=2")
    assert [r["run_id"] for r in page["runs"]] == [ui_runs.failed, ui_runs.bob] and page["more"] is True
    assert ids(f"limit=2&before={ui_runs.bob}") == [ui_runs.cached, ui_runs.fresh]
    assert ui_server.get("/api/flows/UiFlow/runs?status=happy")[0] == 400
    assert ui_server.get("/api/flows/NoSuchFlow/runs")[0] == 404


def test_a_run_has_its_graph_steps_and_tasks(ui_server: UiServer, ui_runs: UiRuns) -> None:
    status, body = ui_server.get(f"/api/runs/UiFlow/{ui_runs.cached}")
    assert status == 200
    assert [s["name"] for s in body["graph"]["steps"]][:3] == ["start", "work", "gather"]
    assert body["steps"]["work"] == body["steps"]["work"] | {"tasks": 3, "reused": 3, "status": {"succeeded": 3}}
    assert len(body["tasks"]) == 10 and all(t["reused"] and t["decision"] == "hit" for t in body["tasks"])
    assert body["run"]["parameters"] == {"fail": False, "scale": 1, "width": 3}
    failed = ui_server.get(f"/api/runs/UiFlow/{ui_runs.failed}")[1]
    assert failed["steps"]["report"]["status"] == {"failed": 1} and failed["steps"]["end"]["tasks"] == 0
    assert ui_server.get("/api/runs/UiFlow/123")[0] == 404


def _task(ui_server: UiServer, run_id: str, step: str) -> dict:
    tasks = ui_server.get(f"/api/runs/UiFlow/{run_id}")[1]["tasks"]
    (task,) = [t for t in tasks if t["step"] == step]
    return task


def test_a_task_shows_artifacts_previews_logs_and_why(ui_server: UiServer, ui_runs: UiRuns) -> None:
    report = _task(ui_server, ui_runs.fresh, "report")
    base = f"/api/tasks/UiFlow/{ui_runs.fresh}/report/{report['task_id']}"
    body = ui_server.get(base)[1]
    assert body["task"]["status"] == "succeeded" and body["attempts"] == [0]
    assert {"table", "matrix", "picture", "total"} <= {a["name"] for a in body["artifacts"]}
    assert ui_server.get(f"{base}/artifacts/total")[1]["preview"] == {"kind": "value", "repr": "5"}
    table = ui_server.get(f"{base}/artifacts/table")[1]["preview"]
    assert table["kind"] == "dataframe" and table["columns"] == ["item", "square"] and table["rows"][2] == [2, 4]
    matrix = ui_server.get(f"{base}/artifacts/matrix")[1]["preview"]
    assert matrix["shape"] == [3, 4] and matrix["stats"]["max"] == 11.0 and matrix["stats"]["mean"] == 5.5
    assert ui_server.get(f"{base}/artifacts/picture")[1]["preview"]["mime"] == "image/png"
    status, pickled = ui_server.get(f"{base}/artifacts/squares/download")
    assert status == 200 and pickle.loads(pickled) == [0, 1, 4]
    logs = ui_server.get(f"{base}/logs/stdout")[1]
    assert [line for _, line in logs["lines"]] == ["total is 5"] and logs["finished"] is True
    assert ui_server.get(f"{base}/logs/stdout?since=1")[1]["lines"] == []
    why = ui_server.get(f"{base}/why")[1]["lines"]
    assert "ran (miss)" in why[0]
    reused = _task(ui_server, ui_runs.cached, "report")
    why = ui_server.get(f"/api/tasks/UiFlow/{ui_runs.cached}/report/{reused['task_id']}/why")[1]["lines"]
    assert f"cache hit, reused UiFlow/{ui_runs.fresh}/report/" in why[0]


def test_a_failed_task_shows_its_exception(ui_server: UiServer, ui_runs: UiRuns) -> None:
    report = _task(ui_server, ui_runs.failed, "report")
    body = ui_server.get(f"/api/tasks/UiFlow/{ui_runs.failed}/report/{report['task_id']}")[1]
    assert body["task"]["status"] == "failed"
    assert body["exception"]["type"].endswith("ValueError") and "asked to fail" in body["exception"]["message"]


def test_compare_marks_what_differs(ui_server: UiServer, ui_runs: UiRuns) -> None:
    body = ui_server.get(f"/api/compare/UiFlow/{ui_runs.fresh}/{ui_runs.bob}")[1]
    scale = next(p for p in body["parameters"] if p["name"] == "scale")
    assert (scale["a"], scale["b"], scale["same"]) == ("1", "2", False)
    report = next(s for s in body["steps"] if s["step"] == "report")
    total = next(r for r in report["tasks"][0]["artifacts"] if r["name"] == "total")
    assert (total["a"]["value"], total["b"]["value"], total["same"]) == ("5", "10", False)
    work = next(s for s in body["steps"] if s["step"] == "work")
    assert [t["index"] for t in work["tasks"]] == [0, 1, 2]
    assert all(r["same"] for t in work["tasks"] for r in t["artifacts"] if r["name"] == "square")


def test_tags_change_through_the_ui_and_bad_tags_are_refused(ui_server: UiServer, ui_runs: UiRuns) -> None:
    status, body = ui_server.post(f"/api/runs/UiFlow/{ui_runs.fresh}/tags", {"add": ["keep", "ui"]})
    assert (status, body["user_tags"]) == (200, ["keep", "ui"])
    status, body = ui_server.post(f"/api/runs/UiFlow/{ui_runs.fresh}/tags", {"remove": ["ui"]})
    assert body["user_tags"] == ["keep"]
    runs = ui_server.get("/api/flows/UiFlow/runs?tag=keep")[1]["runs"]
    assert [r["run_id"] for r in runs] == [ui_runs.fresh]
    status, body = ui_server.post(f"/api/runs/UiFlow/{ui_runs.fresh}/tags", {"remove": ["user:alice"]})
    assert status == 400 and "system tag" in body["error"]
    ui_server.post(f"/api/runs/UiFlow/{ui_runs.fresh}/tags", {"remove": ["keep"]})


def test_pages_are_served_for_every_view_and_unknown_api_routes_are_404(ui_server: UiServer, ui_runs: UiRuns) -> None:
    for path in ("/", "/flows/UiFlow", f"/runs/UiFlow/{ui_runs.fresh}", f"/runs/UiFlow/{ui_runs.fresh}/end/10",
                 f"/compare/UiFlow/{ui_runs.fresh}/{ui_runs.bob}"):  # fmt: skip
        status, page = ui_server.get(path)
        assert status == 200 and b'<script type="module" src="/static/app.js">' in page
    status, script = ui_server.get("/static/vendor/preact-htm.js")
    assert status == 200 and b"useState" in script
    assert ui_server.get("/api/nothing")[0] == 404
    assert ui_server.get("/static/../app.py")[0] == 404


def test_a_task_lists_its_cards_and_serves_each_as_a_sandboxed_page(ui_server: UiServer, ui_runs: UiRuns) -> None:
    report = _task(ui_server, ui_runs.fresh, "report")
    base = f"/api/tasks/UiFlow/{ui_runs.fresh}/report/{report['task_id']}"
    cards = ui_server.get(base)[1]["cards"]
    assert sorted((c["type"], c["id"], c["final"]) for c in cards) == [("blank", "summary", True),
                                                                      ("default", None, True)]  # fmt: skip
    summary = next(c for c in cards if c["id"] == "summary")
    status, page, headers = ui_server.get_page(f"{base}/cards/{summary['hash']}")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Squares report" in page and "<table" in page
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts")  # no origin, even opened alone
    assert ui_server.get(f"{base}/cards/{'0' * 64}")[0] == 404
    reused = _task(ui_server, ui_runs.cached, "report")
    reused_cards = ui_server.get(f"/api/tasks/UiFlow/{ui_runs.cached}/report/{reused['task_id']}")[1]["cards"]
    assert sorted(c["hash"] for c in reused_cards) == sorted(c["hash"] for c in cards)  # the origin's cards
    start = _task(ui_server, ui_runs.fresh, "start")
    assert ui_server.get(f"/api/tasks/UiFlow/{ui_runs.fresh}/start/{start['task_id']}")[1]["cards"] == []
