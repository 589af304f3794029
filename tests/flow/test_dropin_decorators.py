"""Decorators Metaflow flows import that name services flowstone does not drive: @kubernetes, @batch, @secrets;
and the utilities profile and parallel_map."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flowstone import parallel_imap_unordered, parallel_map, profile
from flowstone.errors import FlowSpecError
from flowstone.flow.compute_decorators import BatchDecorator, KubernetesDecorator
from flowstone.flow.decorator_specs import parse_decorator_spec
from flowstone.flow.decorators import ResourcesDecorator
from flowstone.flow.multicore import ParallelMapError
from flowstone.flow.secrets_decorator import SecretsDecorator
from flowstone.runtime.remote_task import resources_of
from tests.runtime.helpers import run_flow


def test_compute_decorators_ask_for_their_resources() -> None:
    k8s = KubernetesDecorator({"cpu": "2", "memory": 8192, "image": "python:3.11"})
    assert resources_of([k8s]).cpu == 2 and resources_of([k8s]).memory_bytes == 8192 << 20
    both = resources_of([k8s, ResourcesDecorator({"cpu": 4, "memory": 1024})])
    assert both.cpu == 4 and both.memory_bytes == 8192 << 20  # the larger request of each kind
    assert resources_of([BatchDecorator({"queue": "q"})]) == resources_of([])  # asks for nothing: the defaults
    assert resources_of([ResourcesDecorator({"cpu": 0.5})]).cpu == 0.5
    assert isinstance(parse_decorator_spec("batch:cpu=3,queue='jobs'"), BatchDecorator)
    with pytest.raises(FlowSpecError, match=r"@kubernetes\(cpu=...\) must be a number"):
        KubernetesDecorator({"cpu": "lots"})


def test_cloud_secret_managers_are_refused_with_what_to_do() -> None:
    with pytest.raises(FlowSpecError, match=r"local sources only .* not from 'aws-secrets-manager'"):
        SecretsDecorator({"sources": ["aws-secrets-manager.prod/db"]})


def test_a_flow_with_them_runs_here(tmp_path: Path) -> None:
    secrets_file = tmp_path / "db.json"
    secrets_file.write_text(json.dumps({"DB_PASSWORD": "hunter22"}))
    run = run_flow("dropin_flow.py", root=tmp_path / "ds", env={"FS_TEST_SECRETS_FILE": str(secrets_file)})
    assert run.ok, run.output
    assert run.output.count("Note: @kubernetes runs these steps on this machine") == 1
    assert run.task("start")["ran_on"] == os.uname().nodename
    attributes = {d["name"]: d["attributes"] for d in run.task("start").load_metadata(["decorators"])["decorators"]}
    assert attributes["kubernetes"]["image"] == "python:3.11" and attributes["kubernetes"]["node_selector"]
    secret_step = run.task("secret_step")
    assert secret_step["password_length"] == 8 and secret_step["mode"] == "test"
    assert run.task("end")["password_in_end"] is None  # the step's own, not the run's
    assert "hunter22" not in json.dumps(secret_step.load_metadata())  # read in the task, never stored


def test_a_secret_that_would_replace_a_variable_needs_allow_override(tmp_path: Path) -> None:
    secrets_file = tmp_path / "db.json"
    secrets_file.write_text(json.dumps({"DB_PASSWORD": "x"}))
    run = run_flow("dropin_flow.py", root=tmp_path / "ds",
                   env={"FS_TEST_SECRETS_FILE": str(secrets_file), "DB_PASSWORD": "already set"})  # fmt: skip
    assert not run.ok and "would replace the variables DB_PASSWORD" in run.output


def test_parallel_map_runs_closures_in_children_and_keeps_order() -> None:
    offset = 10
    assert parallel_map(lambda x: (x + offset, os.getpid()), range(6), max_parallel=2)[0][0] == 10
    results = parallel_map(lambda x: (x + offset, os.getpid()), range(6), max_parallel=2)
    assert [value for value, _ in results] == list(range(10, 16))
    assert os.getpid() not in {pid for _, pid in results}
    assert sorted(parallel_imap_unordered(lambda x: x * x, [3, 1, 2])) == [1, 4, 9]


def test_parallel_map_reports_a_failing_item() -> None:
    def fail_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three is bad")
        return x

    with pytest.raises(ParallelMapError, match="ValueError: three is bad"):
        parallel_map(fail_on_three, range(5), max_parallel=2)


def test_profile_prints_or_accumulates(capsys: pytest.CaptureFixture[str]) -> None:
    with profile("load"):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PROFILE: load starting" and out[1].startswith("PROFILE: load completed in ")
    stats: dict[str, int] = {}
    with profile("load", stats_dict=stats):
        pass
    assert capsys.readouterr().out == "" and set(stats) == {"load"}


def test_scheduling_decorators_are_recorded_listed_and_noted(tmp_path: Path) -> None:
    run = run_flow("scheduled_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.output.count("Note: @schedule is recorded with the run; flowstone has no scheduler") == 1
    assert "Note: @trigger_on_finish is recorded" in run.output
    assert run.run_id is not None
    recorded = {d["name"]: d["attributes"] for d in run.fds.load_run_record(run.run_id)["flow_decorators"]}
    assert recorded["schedule"]["cron"] == "0 3 * * *" and recorded["trigger_on_finish"]["flow"] == "UpstreamFlow"
    show = run_flow("scheduled_flow.py", root=tmp_path / "ds", command="show")
    assert "Flow decorators: " in show.output and "@schedule(cron='0 3 * * *'" in show.output
    assert "@trigger_on_finish(flow='UpstreamFlow'" in show.output


def test_a_bad_schedule_is_refused_when_the_flow_is_defined() -> None:
    from flowstone.flow.schedule_decorators import ScheduleDecorator

    with pytest.raises(FlowSpecError, match="must be a cron expression"):
        ScheduleDecorator({"cron": "every day"})
