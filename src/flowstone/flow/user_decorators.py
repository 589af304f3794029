"""Step decorators written as plain Python: ``UserStepDecorator`` subclasses and ``@user_step_decorator``
generators.

A generator decorator runs its code before ``yield`` before the step, and its code after ``yield`` after it::

    @user_step_decorator
    def timing(step_name, flow, inputs):
        started = time.time()
        yield
        flow.seconds = time.time() - started

It can also skip the step (``yield {}``, or ``yield {"foreach": "items"}`` to give ``self.next``'s arguments),
run a function instead of it (``yield replacement``, called as ``replacement(flow)`` or, in a join,
``replacement(flow, inputs)``), and see (``try: yield ... except``) or swallow the step's exception.

Both are StepDecorators: they take part in a task through the ``wrap_step`` hook, and their arguments (which may
be config expressions) are given to ``init`` once the flow's configs are known. Applied bare (``@timing``) or
with keyword arguments (``@timing(unit="ms")``), they leave the step function itself in the flow class.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Callable, Generator
from typing import Any, ClassVar

from flowstone.errors import FlowSpecError
from flowstone.flow.config_expr import resolve_config_exprs, unpack_config_exprs
from flowstone.flow.decorators import StepDecorator

__all__ = [
    "USER_SKIP_STEP",
    "StepDecoratorRef",
    "UserDecoratorArguments",
    "UserStepDecorator",
    "bound_decorators",
    "is_step_function",
    "user_step_decorator",
]

#: Yielded by a generator decorator (or set as ``skip_step``): do not run the step; go on as it would have.
USER_SKIP_STEP: dict[str, Any] = {}


def is_step_function(value: Any) -> bool:
    return inspect.isfunction(value) and getattr(value, "is_step", False) is True


class UserDecoratorArguments:
    """The arguments a user's decorator or mutator was given, handed to its ``init`` once configs are known."""

    _allows_args: ClassVar[bool] = True
    _allows_kwargs: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and not self._allows_args:
            raise FlowSpecError(f"{type(self).__name__} takes keyword arguments only, got {args!r}.")
        if kwargs and not self._allows_kwargs:
            raise FlowSpecError(f"{type(self).__name__} takes no keyword arguments, got {sorted(kwargs)}.")
        self._args, self._kwargs = list(args), dict(kwargs)
        self._initialized = False
        self.statically_defined = True
        self.inserted_by: list[str] = []

    @classmethod
    def short_name(cls) -> str:
        return cls.__name__

    @classmethod
    def qualified_name(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def get_args_kwargs(self) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments given (as ``decorator_specs`` shows them)."""
        return list(self._args), dict(self._kwargs)

    def initialize(self, configs: dict[str, Any]) -> None:
        """Resolve config expressions among the arguments and call ``init`` with them (once)."""
        if self._initialized:
            return
        self._args = [resolve_config_exprs(a, configs, to_dict=True) for a in self._args]
        self._kwargs = unpack_config_exprs(self._kwargs, configs)
        if (self._args or self._kwargs) and type(self).init is UserDecoratorArguments.init:
            raise FlowSpecError(f"{type(self).__name__} is given arguments but does not define init() to take them.")
        self.init(*self._args, **self._kwargs)
        self._initialized = True

    def init(self, *args: Any, **kwargs: Any) -> None:
        """Override to take the decorator's arguments (config expressions among them are already evaluated)."""


class StepAttachedDecorator(UserDecoratorArguments):
    """Applied above ``@step``, bare or with arguments; kept in one of the step function's lists."""

    _step_list: ClassVar[str]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and is_step_function(args[0]):  # bare: @Decorator above the step
            instance = super().__new__(cls)
            cls.__init__(instance, *args[1:], **kwargs)
            return instance(args[0])  # the flow class keeps the step function itself
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and not self._allows_args and inspect.isfunction(args[0]):  # below @step, or above a non-step
            raise FlowSpecError(f"{type(self).__name__} must be placed above @step (it decorates {args[0]!r}).")
        super().__init__(*args, **kwargs)
        self.step_function: Any = None

    def __call__(self, step_function: Any) -> Any:
        if not is_step_function(step_function):
            raise FlowSpecError(f"{type(self).__name__} must be placed above @step (it decorates {step_function!r}).")
        self.step_function = step_function
        step_function.__dict__.setdefault(self._step_list, []).append(self)
        return step_function


class UserStepDecorator(StepAttachedDecorator, StepDecorator):
    """Base class of a decorator that runs code around a step: override ``pre_step`` and ``post_step`` (and
    ``init`` to take keyword arguments)."""

    _allows_args = False
    _step_list = "decorators"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attributes = _recordable(self._kwargs)
        self.deferred = True  # its arguments reach init() once the configs are known
        self._skip_step: bool | dict[str, Any] = False

    def resolve_config_exprs(self, configs: dict[str, Any]) -> None:
        self.initialize(configs)
        self.attributes = _recordable(self._kwargs)
        self.deferred = False

    @property
    def skip_step(self) -> bool | dict[str, Any]:
        """False to run the step; True to skip it; a dict to skip it and call ``self.next(**dict)`` for it."""
        return self._skip_step

    @skip_step.setter
    def skip_step(self, value: bool | dict[str, Any]) -> None:
        self._skip_step = value

    def pre_step(self, step_name: str, flow: Any, inputs: Any = None) -> Callable[..., Any] | None:
        """Before the step; return a function to run instead of it (``f(flow)``, or ``f(flow, inputs)`` in a
        join), or None to run it."""
        return None

    def post_step(self, step_name: str, flow: Any, exception: Exception | None = None) -> Any:
        """After the step (artifacts can still be changed). Return None (the step succeeds, even if it raised),
        an exception to raise, or (exception or None, arguments for ``self.next`` or None)."""
        return (exception, None) if exception is not None else (None, None)

    def wrap_step(self, run_step: Callable[[], None], flow: Any) -> None:
        self._skip_step = False
        _run_wrapped(self, run_step, flow)

    def keyed_code(self) -> tuple[Any, ...]:
        return (type(self),)

    def __reduce__(self) -> tuple[Any, ...]:
        # a task's spec travels pickled: the decorator goes as where it is, and the task finds it there
        function = self.step_function
        return StepDecoratorRef, (function.__name__, function.decorators.index(self))

    def __repr__(self) -> str:
        return f"@{self.short_name()}({', '.join(f'{k}={v!r}' for k, v in self._kwargs.items())})"


def _run_wrapped(deco: UserStepDecorator, run_step: Callable[[], None], flow: Any) -> None:
    """pre_step; the step, its replacement, or nothing (skipped); post_step; then, if the step did not (it was
    skipped or replaced, or its exception was swallowed), the transition the step would have made."""
    step_name = deco.step_function.__name__
    inputs = flow._task.get("inputs")
    replacement = deco.pre_step(step_name, flow, inputs)
    next_args: Any = deco.skip_step or None
    error: Exception | None = None
    if not next_args:
        try:
            if replacement is not None:
                next_args = (replacement(flow) if inputs is None else replacement(flow, inputs)) or None
            else:
                run_step()
        except Exception as exc:
            error = exc
    raised = error is not None
    error, next_args = _post_step_outcome(deco, deco.post_step(step_name, flow, error), next_args)
    if error is not None:
        raise error
    if (next_args is not None and next_args is not False) or raised:
        _default_transition(flow, step_name, next_args)


def _post_step_outcome(deco: UserStepDecorator, outcome: Any, next_args: Any) -> tuple[Exception | None, Any]:
    if outcome is None:
        return None, next_args
    if isinstance(outcome, Exception):
        return outcome, next_args
    if isinstance(outcome, tuple) and len(outcome) == 2:  # (exception, arguments for self.next, or None: as is)
        return outcome[0], next_args if outcome[1] is None else outcome[1]
    raise FlowSpecError(f"{deco!r}.post_step returned {outcome!r}: return None, an exception, or "
                        f"(exception or None, arguments for self.next or None).")  # fmt: skip


def _default_transition(flow: Any, step_name: str, next_args: Any) -> None:
    """Call ``self.next`` for a step that did not: as its own last statement would, or with ``next_args``."""
    node = type(flow)._get_graph()[step_name]
    if not node.out_funcs:
        return
    if next_args is not None and not isinstance(next_args, (bool, dict)):
        raise FlowSpecError(f"The arguments for self.next of step '{step_name}' must be True or a dict, "
                            f"got {next_args!r}.")  # fmt: skip
    targets = [getattr(flow, name) for name in node.out_funcs]
    flow._transition = None
    if isinstance(next_args, dict) and next_args:
        flow.next(*targets, **next_args)
    elif node.foreach_param:
        flow.next(*targets, foreach=node.foreach_param)
    else:
        flow.next(*targets)


def _recordable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the run records them (and the cache key holds them): JSON values, else their repr."""
    recorded = {}
    for key, value in kwargs.items():
        try:
            json.dumps(value)
            recorded[key] = value
        except (TypeError, ValueError):
            recorded[key] = repr(value)
    return recorded


class StepDecoratorRef:
    """A user's step decorator, named by its step and its place among the step's decorators."""

    def __init__(self, step_name: str, index: int) -> None:
        self.step_name, self.index = step_name, index


def bound_decorators(flow_cls: type, decorators: tuple[StepDecorator, ...]) -> tuple[StepDecorator, ...]:
    """``decorators`` with each StepDecoratorRef replaced by the decorator it names in ``flow_cls``."""
    return tuple(
        getattr(flow_cls, d.step_name).decorators[d.index] if isinstance(d, StepDecoratorRef) else d for d in decorators
    )


def user_step_decorator(*args: Any, **kwargs: Any) -> Any:
    """Turn a generator function ``(step_name, flow, inputs[, attributes])`` into a step decorator (see the
    module's description). With a fourth parameter, the decorator takes keyword arguments (``@timing(unit=
    "ms")``), which the generator receives as ``attributes``."""
    if args:
        return _generator_decorator(args[0], bool(kwargs))
    return lambda function: _generator_decorator(function, bool(kwargs))


def _generator_decorator(function: Any, needs_attributes: bool) -> type[UserStepDecorator]:
    if not isinstance(function, types.FunctionType) or not inspect.isgeneratorfunction(function):
        raise FlowSpecError(f"@user_step_decorator decorates a generator function (one that yields), not {function!r}.")
    arity = len(inspect.signature(function).parameters)
    if arity not in (3, 4) or (needs_attributes and arity != 4):
        expected = "step_name, flow, inputs" + (", attributes" if needs_attributes else "[, attributes]")
        raise FlowSpecError(f"@user_step_decorator: {function.__name__} must take ({expected}), not {arity} arguments.")
    namespace = {"__module__": function.__module__, "__qualname__": function.__qualname__,
                 "__doc__": function.__doc__, "name": function.__name__, "_function": staticmethod(function),
                 "_takes_attributes": arity == 4}  # fmt: skip
    return type(function.__name__, (GeneratorStepDecorator,), namespace)


class GeneratorStepDecorator(UserStepDecorator):
    """A step decorator made from a generator function by ``@user_step_decorator``."""

    _function: ClassVar[Callable[..., Generator[Any, None, Any]]]
    _takes_attributes: ClassVar[bool]

    def keyed_code(self) -> tuple[Any, ...]:
        return (self._function,)

    def init(self, **kwargs: Any) -> None:
        if kwargs and not self._takes_attributes:
            raise FlowSpecError(f"@{self.name} takes no arguments: give its function a fourth parameter, "
                                f"attributes, to receive them.")  # fmt: skip

    def pre_step(self, step_name: str, flow: Any, inputs: Any = None) -> Callable[..., Any] | None:
        arguments = (step_name, flow, inputs) + ((self._kwargs,) if self._takes_attributes else ())
        self._generator: Generator[Any, None, Any] | None = self._function(*arguments)
        try:
            yielded = next(self._generator)
        except StopIteration:  # it never yields: the step does not run
            self._generator = None
            self.skip_step = True
            return None
        if isinstance(yielded, dict):
            self.skip_step = yielded or True
            return None
        return yielded

    def post_step(self, step_name: str, flow: Any, exception: Exception | None = None) -> Any:
        generator, self._generator = self._generator, None
        if generator is None:
            return exception
        try:
            generator.throw(exception) if exception is not None else generator.send(None)
        except StopIteration as stop:
            return stop.value
        except Exception as raised:
            return raised
        raise FlowSpecError(f"@{self.name} yields more than once: a step decorator's generator yields once.")
