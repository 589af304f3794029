"""@parallel steps on a real local Ray cluster: the step's tasks are placed together (a gang) before any starts,
find each other at the control task's address, are retried together, and a gang the cluster cannot hold fails
at once with the reason."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.servers._process import free_ports
from tests.servers.ray_cluster import RayCluster, ray_cluster  # noqa: F401 - the fixture; sets Ray's environment

pytest.importorskip("ray")

from tests.runtime.helpers import FlowRun, run_flow


@pytest.fixture
def on_ray(ray_cluster: RayCluster, s3_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    return {**s3_env, **ray_cluster.driver_environment}


def _run(flow: str, env: dict[str, str], *args: str, root: str, datastore: str = "s3") -> FlowRun:
    return run_flow(flow, "--with", "ray", *args, root=root, datastore=datastore, env=env, timeout=240)


def _s3_root() -> str:
    return f"s3://flowstone-test/ray-gang-{uuid.uuid4().hex[:12]}"


def test_the_tasks_of_a_parallel_step_run_together_and_meet_at_the_main_address(on_ray: dict[str, str]) -> None:
    (port,) = free_ports(1)
    run = _run("gang_flow.py", on_ray, "--nodes", "2", "--port", str(port), root=_s3_root())
    assert run.ok, run.output
    join = run.task("join")
    assert join["where"] == [(0, 2, "127.0.0.1"), (1, 2, "127.0.0.1")]  # the cluster's one node, on loopback
    assert join["heard"] == [1]  # task 1 reached task 0 while it ran
    record = run.fds.load_run_record(run.run_id)  # type: ignore[arg-type]
    assert "runtime:ray" in record["system_tags"]  # type: ignore[index]


def test_a_gang_the_cluster_cannot_hold_fails_at_once_saying_why(on_ray: dict[str, str]) -> None:
    (port,) = free_ports(1)
    run = _run("gang_flow.py", on_ray, "--nodes", "3", "--port", str(port), root=_s3_root())
    assert not run.ok, run.output
    assert ("Cannot run on Ray: its 3 @parallel tasks ask for cpu=1, memory=4096 MiB each, and the Ray cluster "
            "has room for 2 such tasks at once: lower num_parallel") in run.output, run.output  # fmt: skip
    assert "Task failed." in run.output and not run.tasks("join")


def test_a_failed_gang_is_retried_as_a_new_gang_on_a_pinned_local_datastore(
    on_ray: dict[str, str], tmp_path: Path
) -> None:
    failing = "environment:vars={'FAIL_NODE': '1'}"  # the nodes' tasks see this, not the runner's environment
    run = _run("parallel_flow.py", on_ray, "--with", failing, "--nodes", "2", root=str(tmp_path / "ds"),
               datastore="local")  # fmt: skip
    assert run.ok, run.output  # the first gang released its room: the retry's gang found it on the 2-CPU node
    result = run.end_result()
    assert result["total"] == 21 and [seen[0] for seen in result["seen"]] == [0, 1]
    assert {t.attempt for t in run.tasks("train")} == {1}
