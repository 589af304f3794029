"""``@step`` and the step decorators: ``@retry``, ``@catch``, ``@timeout``, ``@resources``, ``@environment``.

A step decorator holds validated attributes and hooks: declarative ones, saying what the step asks of the
runtime (retries, a time limit, environment variables, resources, caching), read by the attempt policy in
``runtime/attempts.py``; and task hooks called around the step in its process. A subclass of
:class:`StepDecorator` turned into a decorator with :func:`make_step_decorator` takes part like the built-in
ones. Decorators can also be added to every step from the command line (``--with retry:times=2``), in which
case a decorator already on a step wins.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from flowstone.errors import ExceptionWrapper, FlowSpecError
from flowstone.flow.config_expr import UNPACK_PREFIX, contains_config_expr, unpack_config_exprs

__all__ = [
    "DECORATORS",
    "CacheDecorator",
    "CatchDecorator",
    "EnvironmentDecorator",
    "ExceptionWrapper",
    "ResourcesDecorator",
    "RetryDecorator",
    "StepDecorator",
    "TimeoutDecorator",
    "cache",
    "catch",
    "environment",
    "make_step_decorator",
    "resources",
    "retry",
    "step",
    "timeout",
]

F = TypeVar("F", bound=Callable[..., Any])


def step(f: F | None = None, *, start: bool = False, end: bool = False) -> Any:
    """Mark a method of a FlowSpec as a step: ``@step``, or ``@step(start=True)`` / ``@step(end=True)`` for the
    step a flow starts or ends with when it is not named 'start' or 'end' (both for a one-step flow)."""

    def mark(func: F) -> F:
        if not callable(func):
            raise FlowSpecError(f"@step must decorate a function, got {type(func).__name__}.")
        func.is_step = True  # type: ignore[attr-defined]
        func.is_start_step = bool(start)  # type: ignore[attr-defined]
        func.is_end_step = bool(end)  # type: ignore[attr-defined]
        func.decorators = []  # type: ignore[attr-defined]
        func.name = func.__name__  # type: ignore[attr-defined]
        return func

    return mark(f) if f is not None else mark


class StepDecorator:
    """Base class: validated attributes plus hooks around a task. Subclasses set ``name`` and ``defaults``."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, attributes: dict[str, Any] | None = None, statically_defined: bool = True) -> None:
        self.statically_defined = statically_defined
        self._set_attributes(dict(attributes or {}))

    def _set_attributes(self, given: dict[str, Any]) -> None:
        unknown = sorted(k for k in given if k not in self.defaults and not k.startswith(UNPACK_PREFIX))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise FlowSpecError(f"@{self.name} has no attribute {', '.join(map(repr, unknown))}; valid: {valid}.")
        self._given = given
        self.attributes = {**self.defaults, **given}
        # config expressions (@resources(cpu=config.cpu)) are evaluated once the flow's configs are known
        self.deferred = contains_config_expr(given)
        if not self.deferred:
            self._validate_attributes()

    def resolve_config_exprs(self, configs: dict[str, Any]) -> None:
        """Evaluate config expressions among the attributes (the configs are known), then check them."""
        if self.deferred:
            self._set_attributes(unpack_config_exprs(self._given, configs))

    def _validate_attributes(self) -> None:
        """Check attribute types and ranges; raise FlowSpecError with the decorator's name."""

    def _require_number(self, attr: str, minimum: float = 0, integer: bool = False) -> None:
        value = self.attributes[attr]
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
            kind = "an integer" if integer else "a number"
            raise FlowSpecError(f"@{self.name}({attr}=...) must be {kind} >= {minimum}, got {value!r}.")

    def check(self, step_name: str, node_type: str) -> None:
        """Check that the decorator fits its step (the graph is known); raise FlowSpecError if not."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "attributes": dict(self.attributes), "static": self.statically_defined}

    # What the step asks of the runtime: read by the attempt policy (runtime/attempts.py) and the executors.
    # A decorator overrides the hooks it has something to say about; the defaults ask for nothing.
    def extra_attempts(self) -> tuple[int, int]:
        """(retries of the step's code, fallback attempts after the last retry crashed) this decorator asks for."""
        return 0, 0

    def retry_delay_seconds(self) -> float:
        """How long to wait before retrying the step's code."""
        return 0.0

    def time_limit_seconds(self) -> float | None:
        """The longest one attempt of the step may run, or None for no limit."""
        return None

    def task_environment(self) -> dict[str, str]:
        """Environment variables set while the step runs."""
        return {}

    def resource_request(self) -> dict[str, float] | None:
        """Machine resources the step needs (``cpu``, ``memory`` in MiB, ``gpu``), or None."""
        return None

    def cache_options(self) -> dict[str, Any] | None:
        """How the step takes part in cross-run caching (``enabled``, ``version``, ``files``), or None."""
        return None

    def environment_request(self) -> dict[str, Any] | None:
        """The environment the step runs in (``kind``, ``python``, ``packages``, ``disabled``), or None."""
        return None

    def run_note(self, runtime: str) -> str | None:
        """A note for the user, printed once per run (``runtime`` is where tasks run: 'local', 'ray')."""
        return None

    def card_request(self) -> dict[str, Any] | None:
        """The card the task renders when the step ends (its ``@card`` attributes: type, id, options...), or
        None."""
        return None

    #: Whether the decorator's attributes are part of the step's cache key.
    keyed: ClassVar[bool] = True

    #: Whether the decorator makes its step a @parallel step (tasks started together by num_parallel).
    is_parallel: ClassVar[bool] = False

    #: Whether a step may have it more than once (``@card``); ``--with`` then adds it to steps that have it too.
    allow_multiple: ClassVar[bool] = False

    def keyed_code(self) -> tuple[Any, ...]:
        """Functions or classes of the flow's project whose code runs with the step, and so is part of its cache
        key (a user step decorator's own code)."""
        return ()

    # task hooks (run inside the task process, in this order)
    def task_pre_step(self, flow: Any) -> None:
        """Before the step function runs."""

    def wrap_step(self, run_step: Callable[[], None], flow: Any) -> None:
        """Run the step: ``run_step()`` runs it (with the decorators listed before this one inside). A decorator
        may run code around it, run something else instead, or not run it (then it sets the transition)."""
        run_step()

    def task_post_step(self, flow: Any) -> None:
        """After the step function returned normally."""

    def task_exception(self, exc: BaseException, flow: Any) -> bool:
        """The step raised ``exc`` in its last attempt that runs user code; return True if the decorator handled
        it (the task then succeeds and the flow goes on)."""
        return False

    def task_finally(self, flow: Any) -> None:
        """After the step, whatever happened."""

    def __repr__(self) -> str:
        attrs = ",".join(f"{k}={v!r}" for k, v in self.attributes.items())
        return f"@{self.name}({attrs})"


class RetryDecorator(StepDecorator):
    name = "retry"
    defaults = {"times": 3, "minutes_between_retries": 2}

    def _validate_attributes(self) -> None:
        self._require_number("times", integer=True)
        self._require_number("minutes_between_retries")

    def extra_attempts(self) -> tuple[int, int]:
        return int(self.attributes["times"]), 0

    # minutes_between_retries is recorded, not waited for: as in Metaflow, a failed attempt on this machine is
    # retried at once (the wait is for remote schedulers, which flowstone does not drive)


class CatchDecorator(StepDecorator):
    name = "catch"
    defaults = {"var": None, "print_exception": True}

    def _validate_attributes(self) -> None:
        var = self.attributes["var"]
        if var is not None and (not isinstance(var, str) or not var.isidentifier() or var.startswith("_")):
            raise FlowSpecError(f"@catch(var=...) must be a public attribute name, got {var!r}.")

    def check(self, step_name: str, node_type: str) -> None:
        if node_type == "foreach":
            raise FlowSpecError("@catch is not supported on a foreach split step.", step_name)
        if node_type == "split-switch":  # a caught failure has no condition to pick the next step with
            raise FlowSpecError("@catch is not supported on a switch step.", step_name)

    def extra_attempts(self) -> tuple[int, int]:
        return 0, 1  # one fallback attempt, used when the last real attempt crashed outright

    def _set_var(self, flow: Any, value: Any) -> None:
        if self.attributes["var"]:
            setattr(flow, self.attributes["var"], value)

    def task_post_step(self, flow: Any) -> None:
        self._set_var(flow, None)

    def task_exception(self, exc: BaseException, flow: Any) -> bool:
        if self.attributes["print_exception"]:
            print(f"@catch caught an exception from {flow.name}:", file=sys.stderr)
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        self._set_var(flow, ExceptionWrapper(exc))
        return True


class TimeoutDecorator(StepDecorator):
    name = "timeout"
    defaults = {"seconds": 0, "minutes": 0, "hours": 0}

    def _validate_attributes(self) -> None:
        for attr in self.defaults:
            self._require_number(attr)
        if self.total_seconds <= 0:
            raise FlowSpecError("@timeout needs a positive duration: give seconds=, minutes= or hours=.")

    @property
    def total_seconds(self) -> float:
        a = self.attributes
        return float(a["seconds"]) + 60 * float(a["minutes"]) + 3600 * float(a["hours"])

    def time_limit_seconds(self) -> float | None:
        return self.total_seconds


class ResourcesDecorator(StepDecorator):
    """Resources a step asks for; recorded with the task and honoured by executors that can."""

    name = "resources"
    defaults = {"cpu": 1, "memory": 4096, "gpu": 0, "disk": None, "shared_memory": None}

    def _validate_attributes(self) -> None:
        self._require_number("cpu")
        self._require_number("memory")
        self._require_number("gpu", integer=True)

    def resource_request(self) -> dict[str, float] | None:
        a = self.attributes
        return {"cpu": float(a["cpu"]), "memory": float(a["memory"]), "gpu": float(a["gpu"])}


class EnvironmentDecorator(StepDecorator):
    name = "environment"
    defaults = {"vars": {}}

    def _validate_attributes(self) -> None:
        env = self.attributes["vars"]
        if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
            raise FlowSpecError(f"@environment(vars=...) must be a dict of names to values, got {env!r}.")
        self.attributes["vars"] = {k: str(v) for k, v in env.items()}

    def task_environment(self) -> dict[str, str]:
        return dict(self.attributes["vars"])


class CacheDecorator(StepDecorator):
    """How a step takes part in cross-run caching (docs/caching.md).

    ``enabled=False`` always runs it. ``version``, ``files`` (paths relative to the flow file) and ``env``
    (variable names) add to its cache key what flowstone cannot see the step read (a version you bump, files or
    variables a subprocess reads). ``network=True`` and ``random=True`` let it be reused although it used the
    network or drew unseeded random numbers (a declared ``version`` allows the network too); ``ignore_env`` and
    ``ignore_files`` (names and paths, ``*`` patterns allowed) are reads that do not count."""

    name = "cache"
    defaults = {"enabled": True, "version": None, "files": [], "env": [], "network": False, "random": False,
                "ignore_env": [], "ignore_files": []}  # fmt: skip
    keyed = False  # it says how the key is made; it is not part of it

    def _validate_attributes(self) -> None:
        for name in ("files", "env", "ignore_env", "ignore_files"):
            values = self.attributes[name]
            if isinstance(values, str):
                self.attributes[name] = values = [v for v in values.split(",") if v] if name != "files" else [values]
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
                raise FlowSpecError(f"@cache({name}=...) must be a list of strings, got {values!r}.")
        for name in ("enabled", "network", "random"):
            value = self.attributes[name]
            if not isinstance(value, bool):
                raise FlowSpecError(f"@cache({name}=...) must be True or False, got {value!r}.")

    def cache_options(self) -> dict[str, Any] | None:
        return dict(self.attributes)


#: Every step decorator by name (for ``--with NAME``): the built-in ones and those made with make_step_decorator.
DECORATORS: dict[str, type[StepDecorator]] = {}


def make_step_decorator(cls: type[StepDecorator]) -> Callable[..., Any]:
    """The ``@name`` decorator for ``cls`` (used as ``@name`` or ``@name(attr=value)`` above ``@step``); ``cls``
    can then also be added to every step with ``--with name``. The runtime calls its hooks; nothing else is
    needed for a decorator of one's own to take part in a run."""
    registered = DECORATORS.get(cls.name)
    if registered is not None and registered is not cls and registered.__module__ == __name__:
        raise FlowSpecError(f"'{cls.name}' is the name of flowstone's @{cls.name}: give {cls.__name__} another name.")
    DECORATORS[cls.name] = cls

    def decorator(f: Any = None, **attributes: Any) -> Any:
        def attach(func: Any) -> Any:
            if not getattr(func, "is_step", False):
                raise FlowSpecError(
                    f"@{cls.name} must be placed above @step (it decorates '{getattr(func, '__name__', func)}', "
                    f"which is not a step)."
                )
            if not cls.allow_multiple and any(d.name == cls.name for d in func.decorators):
                raise FlowSpecError(f"@{cls.name} is applied twice.", func.__name__)
            func.decorators.append(cls(attributes))
            return func

        return attach(f) if f is not None else attach

    functools.update_wrapper(decorator, cls, assigned=("__doc__",), updated=())
    decorator.__name__ = cls.name
    decorator.decorator_class = cls  # type: ignore[attr-defined]
    return decorator


retry = make_step_decorator(RetryDecorator)
catch = make_step_decorator(CatchDecorator)
timeout = make_step_decorator(TimeoutDecorator)
resources = make_step_decorator(ResourcesDecorator)
environment = make_step_decorator(EnvironmentDecorator)
cache = make_step_decorator(CacheDecorator)
