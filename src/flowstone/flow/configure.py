"""Applying a flow's config values: the moment a flow class becomes the flow of one run.

Once the values are read (``load_config_values``), :func:`configure_flow`, in this order: gives each Config its
value; evaluates config expressions in the arguments of flow and step decorators and of user decorators; runs
the ``pre_mutate`` of each FlowMutator, then of each StepMutator; evaluates config expressions in parameters
(mutators may have added some); runs every ``mutate``. It happens once per flow class and process: the
command line does it before anything else looks at the flow, and a task that runs on another machine does it
again with the run's values, to the same effect.
"""

from __future__ import annotations

from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.config import config_parameters, configs_by_name, load_config_values
from flowstone.flow.flow_decorators import flow_decorators
from flowstone.flow.flowspec import FlowSpec
from flowstone.flow.mutable import MutableFlow, MutableStep
from flowstone.flow.mutators import own_flow_mutators, step_mutators
from flowstone.flow.user_decorators import is_step_function

__all__ = ["applied_configs", "configure_flow", "ensure_configured", "step_functions"]


def step_functions(flow_cls: type) -> list[tuple[str, Any]]:
    """(name, function) of each step of the flow class, in the order they are written (mutators run in it)."""
    steps = [(name, value) for name in dir(flow_cls) if is_step_function(value := getattr(flow_cls, name, None))]
    return sorted(steps, key=lambda step: step[1].__code__.co_firstlineno)


def applied_configs(flow_cls: type) -> dict[str, Any] | None:
    """The config values the flow class was configured with (config name -> plain value), or None."""
    return flow_cls.__dict__.get("_applied_configs")


def configure_flow(flow_cls: type[FlowSpec], values: dict[str, Any]) -> None:
    """Make ``flow_cls`` the flow these config values describe (see the module's description)."""
    applied = applied_configs(flow_cls)
    if applied is not None:
        if applied != values:
            raise FlowSpecError(f"{flow_cls.__name__} is already configured with other config values in this "
                                f"process: {applied!r}, not {values!r}.")  # fmt: skip
        return
    for _, cfg in config_parameters(flow_cls):
        cfg._value = values.get(cfg.name)
    configs = configs_by_name(flow_cls)
    for deco in flow_decorators(flow_cls):
        deco.resolve_config_exprs(configs)
    for _, function in step_functions(flow_cls):
        for step_deco in function.decorators:
            step_deco.resolve_config_exprs(configs)
    _run_mutators(flow_cls, configs, pre_mutate=True)
    for _, param in flow_cls._get_parameters():
        param._resolve_config_exprs(configs)
    _run_mutators(flow_cls, configs, pre_mutate=False)
    flow_cls._applied_configs = dict(values)  # type: ignore[attr-defined]
    FlowSpec._graph_cache.pop(flow_cls, None)  # mutators may have changed decorators and class attributes
    FlowSpec._constants_cache.pop(flow_cls, None)


def ensure_configured(flow_cls: type[FlowSpec], user_name: str, values: dict[str, Any] | None = None) -> None:
    """Configure ``flow_cls`` with ``values`` (by default its configs' defaults) unless this process has done it
    already: a flow run from Python rather than from its command line, a task on another machine."""
    if applied_configs(flow_cls) is None:
        configure_flow(flow_cls, values if values is not None else load_config_values(flow_cls, {}, {}, user_name))


def _run_mutators(flow_cls: type, configs: dict[str, Any], pre_mutate: bool) -> None:
    """Every FlowMutator's, then every StepMutator's ``pre_mutate`` (or ``mutate``); mutators added meanwhile
    run in turn."""
    method = "pre_mutate" if pre_mutate else "mutate"
    mutators = own_flow_mutators(flow_cls)
    index = 0
    while index < len(mutators):
        mutator = mutators[index]
        mutator.initialize(configs)
        getattr(mutator, method)(MutableFlow(flow_cls, pre_mutate, [mutator.qualified_name()]))
        index += 1
    for _, function in step_functions(flow_cls):
        step_list = step_mutators(function)
        index = 0
        while index < len(step_list):
            step_mutator = step_list[index]
            step_mutator.initialize(configs)
            getattr(step_mutator, method)(MutableStep(flow_cls, function, pre_mutate, [step_mutator.qualified_name()]))
            index += 1
