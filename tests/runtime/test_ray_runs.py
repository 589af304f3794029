"""Flows run on a real local Ray cluster with the datastore on the test S3 server, as a user runs them
(``python flow.py run --with ray``): the graph shapes, a retry, a failure, Ctrl-C then resume, and the cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.servers.ray_cluster import RayCluster, ray_cluster  # noqa: F401 - the fixture; sets Ray's environment

pytest.importorskip("ray")

from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException
from flowstone.executors.remote import TaskResources
from flowstone.flow.decorators import ResourcesDecorator, RetryDecorator
from flowstone.runtime.remote_task import check_datastore_is_shared, resources_of
from flowstone.s3.config import S3Config
from flowstone.s3.locations import parse_url
from flowstone.s3.transport import S3Transport
from flowstone.settings import Settings
from flowstone.storage.memory import MemoryStorage
from tests.runtime.helpers import FlowRun, run_flow

SHAPES = {
    "linear": ("linear_flow.py", 4, {"total": 12, "scale": 2}),
    "branch": ("branch_flow.py", 5, {"a": 6, "b": 3, "common": "same", "shared": [1, 2, 3]}),
    "foreach": ("foreach_flow.py", 7, {"outs": [f"item-{i}!@{i}" for i in range(4)], "indexes": [0, 1, 2, 3],
                                       "count": 4}),
}  # fmt: skip

GATED_FLOW = '''
import time

from flowstone import S3, FlowSpec, Parameter, resources, step


class GatedFlow(FlowSpec):
    """The 'check' step does what the S3 object at --gate says: fail, hang, or go on."""

    gate = Parameter("gate", default="")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @resources(cpu=1, memory=64)
    @step
    def square(self):
        self.value = self.input ** 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.check)

    @step
    def check(self):
        with S3() as s3:
            word = s3.get(self.gate).text
        if word == "fail":
            raise RuntimeError("the gate says fail")
        if word == "hang":
            print("hanging", flush=True)
            time.sleep(600)
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.values)


if __name__ == "__main__":
    GatedFlow()
'''


@pytest.fixture
def on_ray(ray_cluster: RayCluster, s3_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    """The environment of a runner that uses the test cluster and S3 server."""
    return {**s3_env, **ray_cluster.driver_environment}


def _root() -> str:
    return f"s3://flowstone-test/ray-{uuid.uuid4().hex[:12]}"


def _run(flow: str | Path, env: dict[str, str], *args: str, root: str, command: str = "run") -> FlowRun:
    return run_flow(flow, "--with", "ray", *args, root=root, datastore="s3", env=env, command=command, timeout=180)


@pytest.mark.parametrize("name", list(SHAPES))
def test_graph_shapes_run_on_ray(name: str, on_ray: dict[str, str]) -> None:
    flow_file, tasks, result = SHAPES[name]
    run = _run(flow_file, on_ray, root=_root())
    assert run.ok, run.output
    assert "Tasks run on ray" in run.output
    assert run.end_result() == result
    stored = run.tasks()
    assert len(stored) == tasks and all(t.is_done for t in stored)
    record = run.fds.load_run_record(run.run_id)  # type: ignore[arg-type]
    assert "runtime:ray" in record["system_tags"]  # type: ignore[index]
    for task in stored:
        where = f"{task.step_name}/{task.task_id}"
        assert f"stdout of {where} attempt 0" in task.load_log("stdout")  # logs came back live and were stored
        assert f"stderr of {where} attempt 0" in task.load_log("stderr")
        assert f"] stdout of {where} attempt 0" in run.proc.stdout  # printed with the task's prefix
        meta = task.load_metadata(["code_package", "pid"])
        assert meta["code_package"] == record["code_package"] and meta["pid"] != os.getpid()  # type: ignore[index]


def test_retry_on_ray_keeps_each_attempt(on_ray: dict[str, str]) -> None:
    run = _run("foreach_flow.py", on_ray, "--with", "retry:times=1,minutes_between_retries=0",
               "--with", "environment:vars={'FS_TEST_FLAKY_AT': 'body', 'FS_TEST_INDEX': '2'}",
               root=_root())  # fmt: skip
    assert run.ok, run.output
    (retried,) = [t for t in run.tasks("body") if t.attempt == 1]
    assert "flaky failure" in retried.load_log("stderr", attempt=0)
    assert "attempt 1" in retried.load_log("stdout", attempt=1)
    assert run.end_result()["count"] == 4


def _set_gate(url: str, word: str) -> None:
    S3Transport("flowstone-test", S3Config.from_env()).put_many([(parse_url(url).key, word.encode())])


def _decisions(run: FlowRun) -> dict[str, str]:
    return {f"{t.step_name}/{t.task_id}": t.load_metadata(["cache"])["cache"]["decision"] for t in run.tasks()}


def test_a_failing_step_fails_the_run(on_ray: dict[str, str], tmp_path: Path) -> None:
    flow, root = tmp_path / "gated_flow.py", _root()
    flow.write_text(textwrap.dedent(GATED_FLOW))
    _set_gate(f"{root}/gate", "fail")
    run = _run(flow, on_ray, "--gate", f"{root}/gate", root=root)
    assert run.proc.returncode == 1, run.output
    assert "Step 'check' failed" in run.output and "RuntimeError: the gate says fail" in run.output
    (failed,) = run.tasks("check", allow_not_done=True)
    assert not failed.is_done and "the gate says fail" in failed.load_log("stderr")


def test_ctrl_c_then_resume_then_cache_hits(on_ray: dict[str, str], tmp_path: Path) -> None:
    flow, root = tmp_path / "gated_flow.py", _root()
    flow.write_text(textwrap.dedent(GATED_FLOW))
    gate = f"{root}/gate"
    _set_gate(gate, "hang")
    command = [sys.executable, str(flow), "--datastore", "s3", "--datastore-root", root, "run", "--with", "ray",
               "--gate", gate]  # fmt: skip
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **on_ray}, cwd=tmp_path)  # fmt: skip
    assert runner.stdout is not None
    seen = []
    for line in runner.stdout:  # the task is running on the cluster once its output comes back
        seen.append(line)
        if "hanging" in line:
            break
    runner.send_signal(signal.SIGINT)
    rest, _ = runner.communicate(timeout=60)
    output = "".join(seen) + rest
    assert runner.returncode == 1, output
    assert "the run was interrupted" in output
    settings = Settings.from_env(default_datastore="s3", datastore_sysroot_s3=root)
    fds = FlowDataStore("GatedFlow", settings=settings)
    (run_id,) = fds.list_run_ids()
    assert fds.load_run_end(run_id)["status"] == "failed"  # type: ignore[index]

    _set_gate(gate, "go")
    resumed = _run(flow, on_ray, "--origin-run-id", run_id, root=root, command="resume")
    assert resumed.proc.returncode == 0, resumed.output
    run_ids = sorted(fds.list_run_ids(), key=int)
    resumed_run = FlowRun(resumed.proc, run_ids[-1], fds)
    decisions = _decisions(resumed_run)
    assert {d for path, d in decisions.items() if path.split("/")[0] in ("start", "square", "join")} == {"resumed"}
    assert resumed_run.task("end")["total"] == 14

    again = _run(flow, on_ray, "--gate", gate, root=root)
    assert again.ok, again.output
    assert set(_decisions(again).values()) == {"hit"}
    assert "Task is starting" not in again.output


def test_configs_mutators_and_user_decorators_on_ray(on_ray: dict[str, str]) -> None:
    """A node loads the flow file anew: it applies the run's configs (not the defaults) and runs the mutators, and
    finds the user's step decorators again."""
    model = json.dumps({"name": "on-ray", "project": "ray_project", "threshold": 1, "cpu": 1, "layers": [1],
                        "nested": {"depth": 9}})  # fmt: skip
    run = run_flow("config_flow.py", "--with", "ray", root=_root(), datastore="s3", env=on_ray, timeout=180,
                   top_args=("--config-value", "model", model, "--branch", "ray"))  # fmt: skip
    assert run.ok, run.output
    start = run.task("start")
    assert start["env_seen"] == ("on-ray", "4") and start["access"][0] == 9
    assert start["project_seen"][:2] == ("ray_project", "test.ray")
    mutated = run_flow("mutator_flow.py", "--with", "ray", root=_root(), datastore="s3", env=on_ray, timeout=180)
    assert mutated.ok, mutated.output
    assert mutated.task("start")["env"]["FROM_MUTATOR"] == "merged"
    assert mutated.task("fragile")["forgiven"] == "fragile fails"
    assert mutated.task("swapped")["replaced_by"] == "instead"


def test_a_request_no_node_can_meet_is_refused_before_the_run(on_ray: dict[str, str]) -> None:
    run = _run("linear_flow.py", on_ray, "--with", "resources:gpu=1", root=_root())
    assert run.proc.returncode == 1
    assert "cannot give" in run.output and "gpu=1" in run.output and "Step 'start'" in run.output
    assert run.run_id is None  # refused before a run was created


def test_resources_map_to_what_ray_reserves() -> None:
    assert resources_of([]) == TaskResources()
    assert resources_of([RetryDecorator(), ResourcesDecorator({"cpu": 2, "memory": 512, "gpu": 1})]) == (
        TaskResources(cpu=2, memory_bytes=512 << 20, gpu=1)
    )


class _FakeCluster:
    runtime_name = "ray"

    def __init__(self, nodes: int) -> None:
        self.node_count = nodes
        self.pinned = False

    def pin_to_this_machine(self) -> None:
        self.pinned = True


def test_a_local_datastore_is_refused_on_a_cluster_of_many_nodes(tmp_path: Path) -> None:
    local = FlowDataStore("F", settings=Settings(datastore_sysroot_local=str(tmp_path)))
    with pytest.raises(FlowstoneException, match=r"3 nodes that would not share it.*--datastore s3"):
        check_datastore_is_shared(_FakeCluster(3), local)  # type: ignore[arg-type]
    one = _FakeCluster(1)
    check_datastore_is_shared(one, local)  # type: ignore[arg-type]
    assert one.pinned, "tasks must stay on the one machine that has the datastore"
    with pytest.raises(FlowstoneException, match="in-memory"):
        check_datastore_is_shared(_FakeCluster(1), FlowDataStore("F", storage=MemoryStorage()))  # type: ignore[arg-type]


def test_settings_name_the_executor_and_the_cluster() -> None:
    settings = Settings.from_env({"FLOWSTONE_EXECUTOR": "ray", "FLOWSTONE_RAY_ADDRESS": "10.0.0.5:6379"})
    assert (settings.executor, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert Settings.from_env({}).executor == "local"
    with pytest.raises(FlowstoneException, match="FLOWSTONE_EXECUTOR"):
        Settings.from_env({"FLOWSTONE_EXECUTOR": "dask"})


def test_with_ray_takes_no_attributes(tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", "--with", "ray:address=x", root=tmp_path / "ds")
    assert run.proc.returncode == 1 and "--with ray takes no attributes" in run.output


def test_a_local_datastore_works_on_a_one_node_cluster(on_ray: dict[str, str], tmp_path: Path) -> None:
    run = run_flow("linear_flow.py", "--with", "ray", root=tmp_path / "ds", env=on_ray, timeout=180)
    assert run.ok, run.output
    assert "Tasks run on ray (1 node)" in run.output and run.end_result() == {"total": 12, "scale": 2}
