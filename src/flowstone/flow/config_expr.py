"""Config values and expressions over them: ``ConfigValue``, ``config_expr`` and their resolution.

A :class:`ConfigValue` is what a step, a parameter default or a mutator sees of a config: a read-only mapping
whose keys are also attributes (``config.nested.value`` or ``config["nested"]["value"]``); changing it raises
``TypeError``. A :class:`ConfigExpr` is a config value that is not known yet: ``config.cpu`` in a decorator's
arguments, or ``config_expr("str(config.value)")``. Decorators and parameters keep such expressions until the
flow's configs are read; :func:`resolve_config_exprs` then replaces each by its value.

This module imports nothing of the authoring layer, so parameters and decorators can use it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, NoReturn

from flowstone.errors import FlowSpecError

__all__ = [
    "UNPACK_PREFIX",
    "ConfigExpr",
    "ConfigValue",
    "config_expr",
    "contains_config_expr",
    "resolve_config_exprs",
    "unpack_config_exprs",
]

#: Keyword names produced by ``**config`` in a decorator's arguments: the config is spread into keywords once
#: its value is known.
UNPACK_PREFIX = "_unpacked_config_"


def _immutable(*_: Any, **__: Any) -> NoReturn:
    raise TypeError("A config value cannot be changed: configs are fixed when the run starts. Copy it with "
                    ".to_dict() to build a changed version.")  # fmt: skip


class ConfigValue(dict):
    """A config's value: a read-only mapping (nested mappings are ConfigValues too) whose keys are attributes.

    It is a ``dict`` for ``isinstance`` checks and ``json.dumps``; it compares equal to the plain dict it holds,
    and pickles as one.
    """

    def __init__(self, data: Mapping[Any, Any]) -> None:
        dict.__init__(self, {key: _wrap(value) for key, value in data.items()})

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"The config has no key '{key}'; its keys are {sorted(map(str, self))}.") from None

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = __ior__ = _immutable
    clear = update = pop = popitem = setdefault = _immutable

    def to_dict(self) -> dict[Any, Any]:
        """The value as plain, mutable dicts and lists."""
        return _plain(self)

    def copy(self) -> ConfigValue:
        return ConfigValue(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return ConfigValue, (self.to_dict(),)

    def __repr__(self) -> str:
        return repr(self.to_dict())


def _wrap(value: Any) -> Any:
    if isinstance(value, ConfigValue):
        return value
    if isinstance(value, Mapping):
        return ConfigValue(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class ConfigExpr:
    """A value computed from the flow's configs once they are known: a Python expression (evaluated with each
    config as a variable named by the config's name, and the globals of the module that wrote it), followed by
    the attribute and item accesses made on it (``config_expr("config").nested["key"]``)."""

    def __init__(self, expression: str, module_globals: dict[str, Any] | None = None,
                 accesses: tuple[tuple[str, Any], ...] = ()) -> None:  # fmt: skip
        self._expression = expression
        self._globals = module_globals or {}
        self._accesses = accesses

    def _then(self, kind: str, key: Any) -> ConfigExpr:
        return ConfigExpr(self._expression, self._globals, (*self._accesses, (kind, key)))

    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._then("attribute", name)

    def __getitem__(self, key: Any) -> ConfigExpr:
        if key == self._unpack_key:
            return self
        return self._then("item", key)

    # ``**expr`` in a call: one keyword standing for the whole expression, spread when it is resolved
    @property
    def _unpack_key(self) -> str:
        return f"{UNPACK_PREFIX}{id(self)}"

    def keys(self) -> list[str]:
        return [self._unpack_key]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __repr__(self) -> str:
        accesses = "".join(f".{k}" if kind == "attribute" else f"[{k!r}]" for kind, k in self._accesses)
        return f"config_expr({self._expression!r}){accesses}"

    def evaluate(self, configs: Mapping[str, Any]) -> Any:
        """The expression's value, with ``configs`` (config name -> value) as its variables."""
        try:
            value = eval(self._expression, dict(self._globals), dict(configs))
            for kind, key in self._accesses:
                key = resolve_config_exprs(key, configs)
                value = getattr(value, key) if kind == "attribute" else value[key]
        except Exception as exc:
            raise FlowSpecError(
                f"The config expression {self!r} cannot be evaluated: {type(exc).__name__}: {exc}. "
                f"The flow's configs are {sorted(configs)}."
            ) from exc
        return value


def config_expr(expression: str) -> ConfigExpr:
    """A value computed from the flow's configs when they are known, for places where a config cannot be named
    directly (a flow decorator above the class) or where an expression is needed:
    ``@project(name=config_expr("config").project)``, ``@environment(vars={"n": config_expr("str(config.n)")})``.
    Names in the expression are the flow's configs (by config name) and the globals of the calling module."""
    frame = inspect.currentframe()
    caller_globals = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    return ConfigExpr(expression, caller_globals)


def contains_config_expr(value: Any) -> bool:
    """Whether ``value`` is, or holds (in dicts, lists, tuples and sets), a config expression."""
    if isinstance(value, ConfigExpr):
        return True
    if isinstance(value, Mapping):
        return any(contains_config_expr(k) or contains_config_expr(v) for k, v in value.items()) or any(
            isinstance(k, str) and k.startswith(UNPACK_PREFIX) for k in value
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_config_expr(v) for v in value)
    return False


def resolve_config_exprs(value: Any, configs: Mapping[str, Any], to_dict: bool = False) -> Any:
    """``value`` with every config expression in it replaced by its value (ConfigValues made plain dicts if
    ``to_dict``)."""
    if isinstance(value, ConfigExpr):
        result = value.evaluate(configs)
        return _plain(result) if to_dict and isinstance(result, ConfigValue) else result
    if isinstance(value, ConfigValue):
        return _plain(value) if to_dict else value
    if isinstance(value, dict):
        return {resolve_config_exprs(k, configs, to_dict): resolve_config_exprs(v, configs, to_dict)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(resolve_config_exprs(v, configs, to_dict) for v in value)
    return value


def unpack_config_exprs(keywords: Mapping[str, Any], configs: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments with each ``**config`` stand-in replaced by the keywords of the config's value (later
    keywords win), then every config expression resolved to plain values."""
    result: dict[str, Any] = {}
    for key, value in keywords.items():
        if isinstance(key, str) and key.startswith(UNPACK_PREFIX):
            spread = resolve_config_exprs(value, configs, to_dict=True)
            if not isinstance(spread, Mapping):
                raise FlowSpecError(f"**{value!r} must be a mapping of keyword arguments, got {spread!r}.")
            result.update(spread)
        else:
            result[key] = value
    return resolve_config_exprs(result, configs, to_dict=True)
