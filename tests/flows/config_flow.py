"""A flow shaped by its configs: a project named by one, step decorators and parameter defaults taken from them,
configs read from a default file, a default value, a default function and a parser, and one left unset."""

import os

from flowstone import Config, FlowSpec, Parameter, config_expr, current, environment, project, resources, step


def parse_settings(text):
    """'key: value' lines -> a dict."""
    return dict(line.split(": ", 1) for line in text.splitlines() if line.strip())


def default_limits(ctx):
    return {"rows": 100, "asked_by": ctx.flow_name}


def label_default(ctx):
    return f"{ctx.configs.model.name}@{current.branch_name}"


@project(name=config_expr("model").project)
class ConfigFlow(FlowSpec):
    model = Config("model", default="config_flow_model.json")
    limits = Config("limits", default_value=default_limits)
    settings = Config("settings", default_value="mode: fast\nlevel: 3", parser=parse_settings)
    env_config = Config("env_config", default_value={"vars": {"SPREAD": "from **env_config"}})
    unset = Config("unset")
    threshold = Parameter("threshold", default=config_expr("model").threshold)
    label = Parameter("label", default=label_default)

    @resources(cpu=model.cpu)
    @environment(vars={"MODEL_NAME": model["name"], "LEVEL": config_expr("str(int(settings.level) + 1)")})
    @step
    def start(self):
        self.env_seen = (os.environ["MODEL_NAME"], os.environ["LEVEL"])
        self.project_seen = (current.project_name, current.branch_name, current.is_user_branch,
                             current.is_production, current.project_flow_name)  # fmt: skip
        self.access = (self.model.nested.depth, self.model["nested"]["depth"], self.model.layers[0],
                       self.settings.mode, self.limits.asked_by, self.unset)  # fmt: skip
        self.refusals = []
        for change in (lambda: self.model.__setitem__("name", "x"), lambda: setattr(self.model, "name", "x"),
                       lambda: self.model.nested.update(depth=1)):  # fmt: skip
            try:
                change()
            except TypeError:
                self.refusals.append("TypeError")
        self.next(self.spread)

    @environment(**env_config)
    @step
    def spread(self):
        if os.environ.get("CONFIG_FLOW_FAIL") == "spread":
            raise RuntimeError("spread fails on purpose")
        self.spread_seen = os.environ["SPREAD"]
        self.next(self.end)

    @step
    def end(self):
        self.model_in_end = (self.model.name, type(self.model).__name__)
        self.params_in_end = (self.threshold, self.label)


if __name__ == "__main__":
    ConfigFlow()
