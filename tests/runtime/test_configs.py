"""Configs, mutators and @project on a flow file's command line, as a user runs it: where config values come
from, what every task sees and stores, the cache and resume, the project's branches, and the Runner."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowstone import Runner
from flowstone.client import context
from tests.runtime.helpers import FLOWS, FlowRun, run_flow

MODEL = json.loads((FLOWS / "config_flow_model.json").read_text())


def system_tags(run: FlowRun) -> set[str]:
    return set(run.fds.load_run_record(run.run_id)["system_tags"])


def decisions(run: FlowRun) -> dict[str, str]:
    return {t.step_name: (t.load_metadata(["cache"])["cache"] or {}).get("decision") for t in run.tasks()}


def test_configs_shape_the_flow_and_reach_every_task(tmp_path: Path) -> None:
    run = run_flow("config_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    assert "Project: fraud_model, Branch: user." in run.output
    stored = {"model": MODEL, "limits": {"rows": 100, "asked_by": "ConfigFlow"},
              "settings": {"mode": "fast", "level": "3"}, "env_config": {"vars": {"SPREAD": "from **env_config"}},
              "unset": None}  # fmt: skip
    for task in run.tasks():
        assert {name: task[name] for name in stored} == stored, task.step_name
    start = run.task("start")
    user = start["project_seen"][1].removeprefix("user.")
    assert start["env_seen"] == ("ridge", "4")  # @environment from config expressions
    assert start["access"] == (3, 3, 16, "fast", "ConfigFlow", None)
    assert start["refusals"] == ["TypeError"] * 3  # configs cannot be changed in a step
    assert start["project_seen"] == ("fraud_model", f"user.{user}", True, False, f"fraud_model.user.{user}.ConfigFlow")
    assert (start["threshold"], start["label"]) == (7, f"ridge@user.{user}")  # defaults from configs and current
    assert run.task("spread")["spread_seen"] == "from **env_config"
    assert run.task("end")["model_in_end"] == ("ridge", "ConfigValue")
    assert {"project:fraud_model", f"project_branch:user.{user}"} <= system_tags(run)
    cpu = {d["name"]: d["attributes"] for d in start.load_metadata(["decorators"])["decorators"]}["resources"]["cpu"]
    assert cpu == 2  # @resources(cpu=model.cpu)


def test_config_values_from_the_command_line_and_the_environment(tmp_path: Path) -> None:
    other = {**MODEL, "name": "lasso", "project": "other_project"}
    given = run_flow("config_flow.py", root=tmp_path / "ds", top_args=("--config-value", "model", json.dumps(other)))
    assert given.ok, given.output
    assert given.task("end")["model"]["name"] == "lasso" and "project:other_project" in system_tags(given)
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**MODEL, "name": "from-a-file"}))
    from_file = run_flow("config_flow.py", root=tmp_path / "ds", top_args=("--config", "model", str(path)))
    assert from_file.task("start")["env_seen"][0] == "from-a-file"
    env = {"METAFLOW_FLOW_CONFIG_VALUE": json.dumps({"settings": "mode: env\nlevel: 1"}),
           "FLOWSTONE_FLOW_CONFIG": json.dumps({"model": str(path)})}  # fmt: skip
    from_env = run_flow("config_flow.py", root=tmp_path / "ds", env=env)
    assert from_env.ok, from_env.output
    assert from_env.task("start")["settings"] == {"mode": "env", "level": "1"}  # through the config's parser
    assert from_env.task("start")["env_seen"] == ("from-a-file", "2")
    beaten = run_flow("config_flow.py", root=tmp_path / "ds", env=env,
                      top_args=("--config-value", "settings", "mode: cli\nlevel: 0"))  # fmt: skip
    assert beaten.task("start")["settings"]["mode"] == "cli"  # the command line wins over the environment


@pytest.mark.parametrize(
    ("top_args", "message"),
    [
        (("--config-value", "nope", "{}"), "'nope' is not a config of the flow"),
        (("--config-value", "model", "{oops"), "the value of config 'model' is not valid JSON"),
        (("--config", "model", "/no/such/file.json"), "the configuration file /no/such/file.json of config 'model'"),
        (("--config", "model", "/dev/null", "--config-value", "model", "{}"), "'model' is given both as a file"),
    ],
)
def test_bad_config_values_stop_the_flow_before_it_runs(tmp_path: Path, top_args: tuple[str, ...],
                                                        message: str) -> None:  # fmt: skip
    run = run_flow("config_flow.py", root=tmp_path / "ds", top_args=top_args)
    assert run.proc.returncode == 2 and run.run_id is None  # a usage error, as in Metaflow
    assert message in run.output


def test_a_config_is_part_of_every_steps_cache_key(tmp_path: Path) -> None:
    first = run_flow("config_flow.py", root=tmp_path / "ds")
    assert first.ok and set(decisions(first).values()) == {"miss"}
    same = run_flow("config_flow.py", root=tmp_path / "ds")
    assert decisions(same) == {"start": "hit", "spread": "hit", "end": "hit"}
    changed = json.dumps({**MODEL, "layers": [32]})  # read by no step: the key changes all the same
    other = run_flow("config_flow.py", root=tmp_path / "ds", top_args=("--config-value", "model", changed))
    assert set(decisions(other).values()) == {"miss"}
    why = run_flow("config_flow.py", f"{other.run_id}/spread", root=tmp_path / "ds", command="why")
    assert "config 'model' changed" in why.output
    back = run_flow("config_flow.py", root=tmp_path / "ds")
    assert set(decisions(back).values()) == {"hit"}


@pytest.mark.parametrize("datastore", ["local", "s3"])
def test_resume_runs_with_the_configs_of_the_run_it_resumes(tmp_path: Path, datastore: str,
                                                            request: pytest.FixtureRequest) -> None:  # fmt: skip
    # on S3, the runner reads the origin's configs after its tasks' fork server started: tasks apply them too
    root = str(tmp_path / "ds") if datastore == "local" else f"s3://flowstone-test/ds-{uuid.uuid4().hex[:12]}"
    if datastore == "s3":
        request.getfixturevalue("s3_env")
    lasso = json.dumps({**MODEL, "name": "lasso"})
    failed = run_flow("config_flow.py", root=root, datastore=datastore, top_args=("--config-value", "model", lasso),
                      env={"CONFIG_FLOW_FAIL": "spread"})  # fmt: skip
    assert not failed.ok and "spread fails on purpose" in failed.output
    refused = run_flow("config_flow.py", root=root, datastore=datastore, command="resume",
                       top_args=("--config-value", "model", lasso))  # fmt: skip
    assert refused.proc.returncode != 0 and "resume runs with the configs of the run it resumes" in refused.output
    resumed = run_flow("config_flow.py", "--origin-run-id", failed.run_id, "--run-id-file", str(tmp_path / "rid"),
                       root=root, datastore=datastore, command="resume")  # fmt: skip
    assert resumed.proc.returncode == 0, resumed.output
    resumed.run_id = (tmp_path / "rid").read_text()
    assert resumed.task("end")["model"]["name"] == "lasso"  # not the default file's 'ridge'
    assert decisions(resumed)["start"] == "resumed"


def test_project_branches_on_the_command_line(tmp_path: Path) -> None:
    cases: list[tuple[tuple[str, ...], dict[str, str], str]] = [
        (("--branch", "exp1"), {}, "test.exp1"),
        (("--production",), {}, "prod"),
        (("--branch", "exp1", "--production"), {}, "prod.exp1"),
        ((), {"METAFLOW_BRANCH": "from_env"}, "test.from_env"),
        ((), {"METAFLOW_PRODUCTION": "True"}, "prod"),
    ]
    for top_args, env, branch in cases:
        run = run_flow("config_flow.py", root=tmp_path / "ds", top_args=top_args, env=env)
        assert run.ok, run.output
        project_seen = run.task("start")["project_seen"]
        assert project_seen[1] == branch and project_seen[4] == f"fraud_model.{branch}.ConfigFlow"
        assert project_seen[2] is False and project_seen[3] is branch.startswith("prod")
        assert f"project_branch:{branch}" in system_tags(run)
        assert run.task("start")["label"] == f"ridge@{branch}"  # a parameter default sees the branch
    bad = run_flow("config_flow.py", root=tmp_path / "ds", top_args=("--branch", "Not-Valid"))
    assert bad.proc.returncode == 1 and "may contain only lowercase letters, digits and '_'" in bad.output
    no_project = run_flow("linear_flow.py", root=tmp_path / "ds", top_args=("--branch", "exp1"))
    assert no_project.proc.returncode == 1 and "LinearFlow has no @project" in no_project.output
    ignored = run_flow("linear_flow.py", root=tmp_path / "ds", env={"METAFLOW_BRANCH": "exp1"})
    assert ignored.ok  # a branch in the environment concerns flows with @project only


def test_mutators_and_user_decorators_in_a_run(tmp_path: Path) -> None:
    run = run_flow("mutator_flow.py", "--beta", "5", root=tmp_path / "ds")
    assert run.ok, run.output
    start = run.task("start")
    assert start["params"] == ("1", "5")  # parameters added by a FlowMutator from the config; --beta given
    assert start["env"] == {"STATIC": "1", "FROM_MUTATOR": "merged", "EVERYWHERE": None}
    assert (start["stamp_before"], start["timed_before"], start["timed_after"], start["stamp_after"]) == (
        "from-config", "start", "start", "start")  # fmt: skip
    fragile = run.task("fragile")
    assert fragile["forgiven"] == "fragile fails" and fragile["attempt_seen"] == 0  # @retry removed, error swallowed
    assert "ran_skipped" not in run.task("skipped")
    assert run.task("swapped")["replaced_by"] == "instead" and run.task("end")["end_env"] == "yes"
    assert "project:mutated" in system_tags(run)
    not_skipped = run_flow("mutator_flow.py", root=tmp_path / "ds", env={"RUN_SKIPPABLE": "1"})
    assert not_skipped.task("skipped")["ran_skipped"] is True
    help_text = run_flow("mutator_flow.py", "--help", root=tmp_path / "ds").output
    assert "--alpha" in help_text and "--beta" in help_text  # run offers the parameters mutators added
    group_help = run_flow("mutator_flow.py", root=tmp_path / "ds", top_args=("--help",)).output
    assert "--config-value NAME JSON" in group_help and "The flow's configs: config." in group_help


DECORATED = """
from flowstone import FlowSpec, step, user_step_decorator


@user_step_decorator
def tagged(step_name, flow, inputs):
    yield
    flow.tag = "v1"


class DecoratedFlow(FlowSpec):
    @tagged
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DecoratedFlow()
"""


def test_a_user_decorators_code_is_part_of_its_steps_cache_key(tmp_path: Path) -> None:
    flow = tmp_path / "decorated_flow.py"
    flow.write_text(DECORATED)
    first = run_flow(flow, root=tmp_path / "ds")
    assert first.ok and first.task("start")["tag"] == "v1"
    assert decisions(run_flow(flow, root=tmp_path / "ds")) == {"start": "hit", "end": "hit"}
    flow.write_text(DECORATED.replace('"v1"', '"v2"'))
    edited = run_flow(flow, root=tmp_path / "ds")
    assert decisions(edited)["start"] == "miss" and edited.task("start")["tag"] == "v2"
    why = run_flow(flow, f"{edited.run_id}/start", root=tmp_path / "ds", command="why")
    assert "code: decorated_flow.py:tagged changed" in why.output


def test_runner_passes_configs_and_branch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSTONE_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "ds"))
    context.default_metadata()
    value: list[tuple[str, Any]] = [("model", {**MODEL, "name": "via-runner"})]
    runner = Runner(str(FLOWS / "config_flow.py"), show_output=False, config_value=value, branch="nightly")
    run = runner.run().run
    assert run is not None and run.successful
    assert run["end"].task.data.model["name"] == "via-runner"
    assert "project_branch:test.nightly" in run.tags
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**MODEL, "name": "file-via-runner"}))
    run = Runner(str(FLOWS / "config_flow.py"), show_output=False, config=[("model", str(path))]).run().run
    assert run is not None and run["start"].task.data.env_seen[0] == "file-via-runner"
