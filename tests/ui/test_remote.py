"""The UI over a remote datastore (S3 on a local S3 server, Azure on Azurite): the same views, read directly."""

from __future__ import annotations

import uuid

import pytest

from tests.ui.helpers import UiServer, make_runs


@pytest.mark.parametrize("datastore", ["s3", "azure"])
def test_the_ui_reads_runs_tasks_artifacts_and_logs_from_a_remote_datastore(
    datastore: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(f"{datastore}_env")
    root = f"{datastore}://flowstone-test/ui-{uuid.uuid4().hex[:12]}"
    runs = make_runs(root, datastore)
    with UiServer(root, datastore) as server:
        (flow,) = server.get("/api/flows")[1]["flows"]
        assert flow["name"] == "UiFlow" and flow["runs"] == 4
        assert [r["run_id"] for r in flow["latest"]] == [runs.failed, runs.bob, runs.cached, runs.fresh]
        assert flow["latest"][0]["status"] == "failed" and flow["latest"][2]["tasks_reused"] == 10
        run = server.get(f"/api/runs/UiFlow/{runs.cached}")[1]
        assert run["steps"]["work"] == run["steps"]["work"] | {"tasks": 3, "reused": 3}
        (report,) = [t for t in server.get(f"/api/runs/UiFlow/{runs.fresh}")[1]["tasks"] if t["step"] == "report"]
        base = f"/api/tasks/UiFlow/{runs.fresh}/report/{report['task_id']}"
        assert server.get(f"{base}/artifacts/total")[1]["preview"] == {"kind": "value", "repr": "5"}
        assert [line for _, line in server.get(f"{base}/logs/stdout")[1]["lines"]] == ["total is 5"]
        assert server.get(f"/api/runs/UiFlow/{runs.bob}")[1]["run"]["parameters"]["scale"] == 2
