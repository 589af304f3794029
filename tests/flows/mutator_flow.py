"""A flow changed by its mutators (parameters, a project and decorators added or removed from a config) and
wrapped by user step decorators (code around a step, a skipped step, a replaced step, a swallowed failure)."""

import os

from flowstone import (
    Config,
    FlowMutator,
    FlowSpec,
    Parameter,
    StepMutator,
    UserStepDecorator,
    config_expr,
    current,
    environment,
    retry,
    step,
    user_step_decorator,
)


class AddParameters(FlowMutator):
    """Adds a parameter for each entry of a config section, and a project."""

    def init(self, section):
        self.section = section

    def pre_mutate(self, mutable_flow):
        for spec in mutable_flow.config[self.section]:
            parameter = Parameter(spec["name"], default=spec["default"])
            mutable_flow.add_parameter(spec["name"], parameter, overwrite=True)
        mutable_flow.add_decorator("project:name=mutated")


class EnvEverywhere(FlowMutator):
    """Gives every step an environment variable, unless the step has an @environment already."""

    def mutate(self, mutable_flow):
        for _, mutable_step in mutable_flow.steps:
            variables = {"EVERYWHERE": mutable_flow.config.everywhere}
            mutable_step.add_decorator(environment, deco_kwargs={"vars": variables})


class MergeEnv(StepMutator):
    """Adds a variable to the step's @environment."""

    def pre_mutate(self, mutable_step):
        for name, _, _, attributes in mutable_step.decorator_specs:
            if name == "environment":
                attributes["vars"]["FROM_MUTATOR"] = "merged"
                mutable_step.add_decorator(environment, deco_kwargs=attributes, duplicates=mutable_step.OVERRIDE)


class NoRetry(StepMutator):
    def pre_mutate(self, mutable_step):
        mutable_step.remove_decorator("retry")


@user_step_decorator
def timed(step_name, flow, inputs):
    flow.timed_before = step_name
    yield
    flow.timed_after = current.step_name


@user_step_decorator
def skip_unless(step_name, flow, inputs, attributes):
    if os.environ.get(attributes["variable"]) == "1":
        yield
    else:
        yield {}


@user_step_decorator
def forgiving(step_name, flow, inputs):
    try:
        yield
    except ValueError as exc:
        flow.forgiven = str(exc)


@user_step_decorator
def replaced(step_name, flow, inputs):
    def instead(flow):
        flow.replaced_by = "instead"
        return True  # then go on as the replaced step would have

    yield instead


class Stamp(UserStepDecorator):
    def init(self, label="none"):
        self.label = label

    def pre_step(self, step_name, flow, inputs=None):
        flow.stamp_before = self.label

    def post_step(self, step_name, flow, exception=None):
        flow.stamp_after = getattr(flow, "timed_after", None)  # the inner decorator has finished
        return super().post_step(step_name, flow, exception)


@EnvEverywhere
@AddParameters("parameters")
class MutatorFlow(FlowSpec):
    config = Config("config", default_value={
        "parameters": [{"name": "alpha", "default": "1"}, {"name": "beta", "default": "2"}],
        "everywhere": "yes",
        "label": "from-config",
    })  # fmt: skip
    alpha = Parameter("alpha", default="replaced by the mutator")

    @Stamp(label=config_expr("config").label)
    @timed
    @MergeEnv
    @environment(vars={"STATIC": "1"})
    @step
    def start(self):
        self.env = {name: os.environ.get(name) for name in ("STATIC", "FROM_MUTATOR", "EVERYWHERE")}
        self.params = (self.alpha, self.beta)
        self.next(self.fragile)

    @forgiving
    @NoRetry
    @retry(times=4)
    @step
    def fragile(self):
        self.attempt_seen = current.retry_count
        if self.attempt_seen == 0:
            raise ValueError("fragile fails")
        self.next(self.skipped)

    @skip_unless(variable="RUN_SKIPPABLE")
    @step
    def skipped(self):
        self.ran_skipped = True
        self.next(self.swapped)

    @replaced
    @step
    def swapped(self):
        self.replaced_by = "the step itself"
        self.next(self.end)

    @step
    def end(self):
        self.end_env = os.environ.get("EVERYWHERE")


if __name__ == "__main__":
    MutatorFlow()
