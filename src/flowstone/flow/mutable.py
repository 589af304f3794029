"""What a mutator sees and changes: ``MutableFlow`` (the flow class) and ``MutableStep`` (one step).

Both list decorators as specs, ``(name, qualified name, args, kwargs)``, and add them from a decorator
(``environment``, ``project``), a spec string (``"environment:vars={'A': '1'}"``) or a mutator or user decorator
class, with a policy for one already there: ``IGNORE`` the new one (keep the old one), ``OVERRIDE`` (replace the
old one) or ``ERROR``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from flowstone.errors import FlowSpecError
from flowstone.flow.config import Config, config_parameters, configs_by_name
from flowstone.flow.decorator_specs import registered_decorators, split_decorator_spec
from flowstone.flow.decorators import StepDecorator
from flowstone.flow.flow_decorators import FLOW_DECORATORS, FlowDecorator, own_flow_decorators
from flowstone.flow.mutators import FlowMutator, StepMutator, own_flow_mutators, step_mutators
from flowstone.flow.parameters import Parameter
from flowstone.flow.user_decorators import StepAttachedDecorator, UserStepDecorator, is_step_function

__all__ = ["MutableFlow", "MutableStep"]

Spec = tuple[str, str, list[Any], dict[str, Any]]


class _Mutable:
    IGNORE = 1
    ERROR = 2
    OVERRIDE = 3

    def __init__(self, flow_cls: type, pre_mutate: bool, inserted_by: list[str]) -> None:
        self._flow_cls = flow_cls
        self._pre_mutate = pre_mutate
        self._inserted_by = inserted_by

    @property
    def _configs(self) -> dict[str, Any]:
        return configs_by_name(self._flow_cls)

    @property
    def decorator_specs(self) -> Iterator[Spec]:
        raise NotImplementedError

    def has_decorator(self, name: str) -> bool:
        """Whether a decorator of that name (short, or qualified if it has a '.') is here."""
        return bool(self.get_decorator_specs(name))

    def get_decorator_specs(self, name: str) -> list[Spec]:
        return [spec for spec in self.decorator_specs if _matches(spec, name)]

    def _refuse_after_pre_mutate(self, what: str) -> None:
        if not self._pre_mutate:
            raise FlowSpecError(f"{' from '.join(self._inserted_by)}: {what} is allowed in pre_mutate only, "
                                f"not in mutate.")  # fmt: skip

    def _add(self, existing: list[Any], new: Any, same: Callable[[Any], bool], duplicates: int) -> Any:
        """Add ``new`` to ``existing`` under the duplicates policy; return it, or None if it was not added."""
        if duplicates not in (self.IGNORE, self.ERROR, self.OVERRIDE):
            raise FlowSpecError(f"duplicates= must be IGNORE, ERROR or OVERRIDE, got {duplicates!r}.")
        if any(same(d) for d in existing) and not getattr(new, "allow_multiple", False):
            if duplicates == self.ERROR:
                raise FlowSpecError(f"{' from '.join(self._inserted_by)} adds {new!r}, which is already there.")
            if duplicates == self.IGNORE:
                return None
            existing[:] = [d for d in existing if not same(d)]
        new.statically_defined = True  # it comes from the flow's own code
        new.inserted_by = list(self._inserted_by)
        return new


def _matches(spec: Spec, name: str) -> bool:
    return spec[1] == name if "." in name else spec[0] == name


def _spec_of(deco: Any) -> Spec:
    if isinstance(deco, StepAttachedDecorator | FlowMutator):
        return (deco.short_name(), deco.qualified_name(), *deco.get_args_kwargs())
    qualified = f"{type(deco).__module__}.{type(deco).__qualname__}"
    return deco.name, qualified, [], copy.deepcopy(deco.attributes)  # changing a spec changes no decorator


def _parsed(spec: str, registry: dict[str, Any], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(decorator class, attributes) for ``"name:attr=value,..."``; ``kwargs`` only if the string has none."""
    name, attributes = split_decorator_spec(spec)
    if name not in registry:
        raise FlowSpecError(f"Unknown decorator '{name}' in {spec!r}; known: {', '.join(sorted(registry))}.")
    if attributes and kwargs:
        raise FlowSpecError(f"{spec!r} has its arguments already: give deco_kwargs or arguments in the string.")
    return registry[name], {**attributes, **kwargs}


class MutableFlow(_Mutable):
    """The flow, as a FlowMutator sees it."""

    @property
    def decorator_specs(self) -> Iterator[Spec]:
        """(name, qualified name, args, kwargs) of each flow decorator and flow mutator."""
        for deco in [*own_flow_decorators(self._flow_cls), *own_flow_mutators(self._flow_cls)]:
            yield _spec_of(deco)

    @property
    def configs(self) -> Iterator[tuple[str, Any]]:
        """(config name, value) for each config of the flow."""
        for _, cfg in config_parameters(self._flow_cls):
            yield cfg.name, cfg.presented(cfg._value)

    @property
    def parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(attribute name, Parameter) for each parameter of the flow (configs aside)."""
        yield from ((attr, p) for attr, p in self._flow_cls._get_parameters() if not p.is_config)  # type: ignore[attr-defined]

    @property
    def steps(self) -> Iterator[tuple[str, MutableStep]]:
        """(step name, MutableStep) for each step of the flow."""
        for name in dir(self._flow_cls):
            value = getattr(self._flow_cls, name, None)
            if is_step_function(value):
                yield name, MutableStep(self._flow_cls, value, self._pre_mutate, self._inserted_by)

    def add_parameter(self, name: str, value: Parameter, overwrite: bool = False) -> None:
        """Add a parameter (pre_mutate only); ``overwrite`` replaces a class attribute of that name."""
        self._refuse_after_pre_mutate(f"adding parameter '{name}'")
        if not isinstance(value, Parameter) or value.is_config:
            raise FlowSpecError(f"add_parameter takes a Parameter (or an IncludeFile), not {value!r}.")
        if hasattr(self._flow_cls, name) and not overwrite:
            raise FlowSpecError(f"{self._flow_cls.__name__} already has an attribute '{name}': pass overwrite=True "
                                f"to replace it.")  # fmt: skip
        value.attribute_name = name
        setattr(self._flow_cls, name, value)

    def remove_parameter(self, parameter_name: str) -> bool:
        """Remove the parameter named ``parameter_name`` (pre_mutate only); True if there was one."""
        self._refuse_after_pre_mutate(f"removing parameter '{parameter_name}'")
        for attr, param in self.parameters:
            if param.name == parameter_name:
                if attr not in self._flow_cls.__dict__:
                    raise FlowSpecError(f"Parameter '{parameter_name}' is defined by a base class of "
                                        f"{self._flow_cls.__name__}: remove it there.")  # fmt: skip
                delattr(self._flow_cls, attr)
                return True
        return False

    def add_decorator(self, deco_type: Any, deco_args: list[Any] | None = None,
                      deco_kwargs: dict[str, Any] | None = None, duplicates: int = _Mutable.IGNORE) -> Any:  # fmt: skip
        """Add a flow decorator (``project``, or ``"project:name=x"``) or a FlowMutator class (pre_mutate only)."""
        self._refuse_after_pre_mutate(f"adding the flow decorator {deco_type!r}")
        args, kwargs = list(deco_args or []), dict(deco_kwargs or {})
        if isinstance(deco_type, type) and issubclass(deco_type, FlowMutator):
            mutator = deco_type(*args, **kwargs)
            mutators = own_flow_mutators(self._flow_cls)
            added = self._add(mutators, mutator, lambda m: type(m) is deco_type, duplicates)
            if added is not None:
                mutator.flow_cls = self._flow_cls
                mutators.append(mutator)  # its pre_mutate runs after those already there
            return added
        if args:
            raise FlowSpecError("Flow decorators take keyword arguments only (deco_kwargs).")
        if isinstance(deco_type, str):
            cls, kwargs = _parsed(deco_type, FLOW_DECORATORS, kwargs)
        else:
            cls = getattr(deco_type, "decorator_class", None)
        if not (isinstance(cls, type) and issubclass(cls, FlowDecorator)):
            raise FlowSpecError(f"add_decorator takes a flow decorator or a FlowMutator class, not {deco_type!r}.")
        deco = cls(kwargs)
        deco.resolve_config_exprs(self._configs)
        decorators = own_flow_decorators(self._flow_cls)
        if self._add(decorators, deco, lambda d: d.name == deco.name, duplicates) is None:
            return None
        deco.owner = self._flow_cls
        decorators.append(deco)
        return deco

    def remove_decorator(self, deco_name: str, deco_args: list[Any] | None = None,
                         deco_kwargs: dict[str, Any] | None = None) -> bool:  # fmt: skip
        """Remove the flow decorators of that name (only those with these arguments, if given); pre_mutate only.
        FlowMutators cannot be removed."""
        self._refuse_after_pre_mutate(f"removing the flow decorator '{deco_name}'")
        if any(_matches(_spec_of(m), deco_name) for m in own_flow_mutators(self._flow_cls)):
            raise FlowSpecError(f"FlowMutator '{deco_name}' cannot be removed: mutators are running.")
        decorators = own_flow_decorators(self._flow_cls)
        kept = [d for d in decorators if not _removes(_spec_of(d), deco_name, deco_args, deco_kwargs)]
        removed = len(kept) != len(decorators)
        decorators[:] = kept
        return removed

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._flow_cls, name, None) if not name.startswith("_") else None
        if is_step_function(value):
            return MutableStep(self._flow_cls, value, self._pre_mutate, self._inserted_by)
        if isinstance(value, Config):
            return value.presented(value._value)
        if isinstance(value, Parameter):
            return value
        raise AttributeError(f"The flow has no step, config or parameter '{name}'.")


def _removes(spec: Spec, name: str, args: list[Any] | None, kwargs: dict[str, Any] | None) -> bool:
    if not _matches(spec, name):
        return False
    return (args is None and kwargs is None) or (spec[2], spec[3]) == (list(args or []), dict(kwargs or {}))


class MutableStep(_Mutable):
    """One step, as a mutator sees it."""

    def __init__(self, flow_cls: type, step_function: Any, pre_mutate: bool, inserted_by: list[str]) -> None:
        super().__init__(flow_cls, pre_mutate, inserted_by)
        self._step = step_function

    @property
    def name(self) -> str:
        return str(self._step.__name__)

    @property
    def flow(self) -> MutableFlow:
        """The flow the step belongs to."""
        return MutableFlow(self._flow_cls, self._pre_mutate, self._inserted_by)

    @property
    def decorator_specs(self) -> Iterator[Spec]:
        """(name, qualified name, args, kwargs) of each decorator and step mutator of the step."""
        for deco in [*self._step.decorators, *step_mutators(self._step)]:
            yield _spec_of(deco)

    def add_decorator(self, deco_type: Any, deco_args: list[Any] | None = None,
                      deco_kwargs: dict[str, Any] | None = None, duplicates: int = _Mutable.IGNORE) -> Any:  # fmt: skip
        """Add a step decorator (``retry``, or ``"retry:times=2"``), a UserStepDecorator or (in pre_mutate) a
        StepMutator class; return what was added, or None if ``duplicates`` kept the one already there."""
        args, kwargs = list(deco_args or []), dict(deco_kwargs or {})
        if isinstance(deco_type, type) and issubclass(deco_type, StepAttachedDecorator):
            return self._add_user_decorator(deco_type(*args, **kwargs), duplicates)
        if args:
            raise FlowSpecError("Step decorators take keyword arguments only (deco_kwargs).")
        if isinstance(deco_type, str):
            cls, kwargs = _parsed(deco_type, registered_decorators(), kwargs)
        else:
            cls = getattr(deco_type, "decorator_class", None)
        if not (isinstance(cls, type) and issubclass(cls, StepDecorator)):
            raise FlowSpecError(f"add_decorator takes a step decorator, a UserStepDecorator or a StepMutator "
                                f"class, not {deco_type!r}.")  # fmt: skip
        deco = cls(kwargs)
        deco.resolve_config_exprs(self._configs)
        added = self._add(self._step.decorators, deco, lambda d: d.name == deco.name, duplicates)
        if added is not None:
            self._step.decorators.append(deco)
        return added

    def _add_user_decorator(self, deco: StepAttachedDecorator, duplicates: int) -> Any:
        if isinstance(deco, StepMutator):
            self._refuse_after_pre_mutate(f"adding the step mutator {deco!r}")
        existing = self._step.decorators if isinstance(deco, UserStepDecorator) else step_mutators(self._step)
        kind = type(deco)
        if self._add(existing, deco, lambda d: type(d) is kind, duplicates) is None:
            return None
        deco(self._step)
        if isinstance(deco, UserStepDecorator):
            deco.resolve_config_exprs(self._configs)
        else:
            deco.initialize(self._configs)
        return deco

    def remove_decorator(self, deco_name: str, deco_args: list[Any] | None = None,
                         deco_kwargs: dict[str, Any] | None = None) -> bool:  # fmt: skip
        """Remove the step's decorators of that name (only those with these arguments, if given); True if one
        was. Step mutators can be removed in pre_mutate only."""
        removed = False
        for items in (self._step.decorators, step_mutators(self._step)):
            kept = [d for d in items if not _removes(_spec_of(d), deco_name, deco_args, deco_kwargs)]
            if len(kept) != len(items):
                if items is not self._step.decorators:
                    self._refuse_after_pre_mutate(f"removing the step mutator '{deco_name}'")
                items[:] = kept
                removed = True
        return removed
