"""Configs in the authoring layer: ConfigValue, config expressions, where config values come from, and a flow
whose decorators and parameters are shaped by its configs (run in this process)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from flowstone import Config, FlowSpec, Parameter, config_expr, current, environment, resources, step
from flowstone.errors import FlowSpecError, ParameterError
from flowstone.flow.config import load_config_values
from flowstone.flow.config_expr import ConfigValue, resolve_config_exprs, unpack_config_exprs
from tests.flow.inline import run_inline


def test_config_value_reads_by_key_and_attribute_and_refuses_changes() -> None:
    value = ConfigValue({"a": {"b": [1, {"c": 2}]}, "n": 3})
    assert value.a.b[1].c == 2 and value["a"]["b"][1]["c"] == 2 and value.a["b"][0] == 1
    assert value == {"a": {"b": [1, {"c": 2}]}, "n": 3} and isinstance(value, dict)
    assert json.loads(json.dumps(value)) == value
    changes = (lambda: value.__setitem__("n", 4), lambda: setattr(value, "n", 4), lambda: value.a.update(x=1),
               lambda: value.pop("n"), lambda: value.__delitem__("n"), lambda: value.setdefault("z", 1))  # fmt: skip
    for change in changes:
        with pytest.raises(TypeError, match="A config value cannot be changed"):
            change()
    with pytest.raises(AttributeError, match="The config has no key 'missing'; its keys are"):
        _ = value.missing
    plain = value.to_dict()
    plain["a"]["b"].append(5)  # a plain copy, free to change
    assert type(plain) is dict and type(plain["a"]) is dict and value.a.b == [1, {"c": 2}]
    restored = pickle.loads(pickle.dumps(value))
    assert restored == value and isinstance(restored.a, ConfigValue)


def lower(text: str) -> str:
    return text.lower()


def test_config_expressions_evaluate_against_configs_and_the_module() -> None:
    configs = {"cfg": ConfigValue({"name": "Ridge", "choose": {"pick": "b"}, "table": {"a": 1, "b": 2}})}
    assert resolve_config_exprs(config_expr("cfg").table["a"], configs) == 1
    assert resolve_config_exprs(config_expr("lower(cfg.name)"), configs) == "ridge"  # a function of this module
    picked = config_expr("cfg").table[config_expr("cfg").choose.pick]  # a key that is itself an expression
    assert resolve_config_exprs({"x": [picked]}, configs) == {"x": [2]}
    assert type(resolve_config_exprs(config_expr("cfg").table, configs, to_dict=True)) is dict
    with pytest.raises(
        FlowSpecError, match=r"config_expr\('nope'\) cannot be evaluated: NameError.*configs are \['cfg'\]"
    ):
        resolve_config_exprs(config_expr("nope"), configs)
    spread = dict(**config_expr("cfg").table)  # what **expr gives a decorator: one stand-in keyword
    assert unpack_config_exprs({"c": 3, **spread}, configs) == {"c": 3, "a": 1, "b": 2}


def upper_parser(text: str) -> dict[str, str]:
    return {"text": text.strip().upper()}


class SourcesFlow(FlowSpec):
    from_file = Config("from_file", default="in-the-cwd.json")
    from_value = Config("from_value", default_value={"k": (1, 2)})
    from_text = Config("from_text", default_value='{"k": "text"}')
    from_function = Config("from_function", default_value=lambda ctx: {"asked_for": ctx.parameter_name})
    parsed = Config("parsed", default_value="shout", parser=upper_parser)
    parsed_by_name = Config("parsed_by_name", default_value="quiet", parser="tests.flow.test_configs.upper_parser")
    kept_plain = Config("kept_plain", default_value="as it is", plain=True)
    needed = Config("needed", required=True)
    unset = Config("unset")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_where_config_values_come_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in-the-cwd.json").write_text('{"from": "file"}')
    monkeypatch.chdir(tmp_path)
    values = load_config_values(SourcesFlow, {}, {"needed": '{"given": true}'}, "tester")
    assert values == {"from_file": {"from": "file"}, "from_value": {"k": [1, 2]}, "from_text": {"k": "text"},
                      "from_function": {"asked_for": "from_function"}, "parsed": {"text": "SHOUT"},
                      "parsed_by_name": {"text": "QUIET"}, "kept_plain": "as it is", "needed": {"given": True},
                      "unset": None}  # fmt: skip
    (tmp_path / "other.json").write_text('{"from": "the other file"}')
    values = load_config_values(SourcesFlow, {"from_file": "other.json"}, {"needed": {"as": "object"}}, "tester")
    assert values["from_file"] == {"from": "the other file"} and values["needed"] == {"as": "object"}


def test_bad_config_values_are_reported_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no in-the-cwd.json here
    with pytest.raises(ParameterError) as error:
        load_config_values(SourcesFlow, {"from_value": "x.json", "nope": "y.json"}, {"from_value": "{}"}, "tester")
    message = str(error.value)
    assert "'nope' is not a config of the flow" in message
    assert "'from_value' is given both as a file and as a value" in message
    assert "the default configuration file in-the-cwd.json of config 'from_file' cannot be read" in message
    assert "config 'needed' is required: pass --config-value needed JSON or --config needed PATH" in message
    assert "The flow's configs: from_file, from_function" in message
    with pytest.raises(ParameterError, match="the value of config 'needed' is not valid JSON"):
        load_config_values(SourcesFlow, {"from_file": "/dev/null"}, {"needed": "{oops"}, "tester")


class ShapedFlow(FlowSpec):
    """Decorators and parameters from configs, read in every step."""

    settings = Config("settings", default_value={"cpu": 3, "threshold": 5, "tag": "t"})
    env = Config("env", default_value={"vars": {"MODE": "fast"}})
    threshold = Parameter("threshold", default=config_expr("settings").threshold)
    computed = Parameter("computed", default=lambda ctx: ctx.configs.settings.tag * 2)

    @resources(cpu=settings.cpu)
    @environment(**env)
    @step
    def start(self):
        self.mode = os.environ["MODE"]
        self.seen = (self.threshold, self.computed, self.env.vars.MODE, type(self.settings).__name__)
        self.next(self.end)

    @step
    def end(self):
        self.settings_in_end = self.settings.cpu


def test_a_flow_shaped_by_its_configs() -> None:
    run = run_inline(ShapedFlow)
    assert run.outcome.ok, run.output
    start = run.task("start")
    assert start["mode"] == "fast" and start["seen"] == (5, "tt", "fast", "ConfigValue")
    assert start["settings"] == {"cpu": 3, "threshold": 5, "tag": "t"}
    assert type(start["settings"]) is dict  # stored as the plain dict it holds
    assert run.task("end")["settings_in_end"] == 3 and run.task("end")["settings"] == start["settings"]
    resources_deco = next(d for d in ShapedFlow.start.decorators if d.name == "resources")
    assert resources_deco.attributes["cpu"] == 3
    assert ShapedFlow.threshold.type is int  # the type is taken from the default once it is known


class ProjectCurrentFlow(FlowSpec):
    @step
    def start(self):
        try:
            self.project_name = current.project_name
        except AttributeError as exc:
            self.project_name = str(exc)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_current_says_when_a_flow_has_no_project() -> None:
    run = run_inline(ProjectCurrentFlow)
    assert run.task("start")["project_name"] == "current.project_name is set for flows with @project only; " \
                                                "this flow has none."  # fmt: skip
