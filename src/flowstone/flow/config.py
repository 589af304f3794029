"""``Config``: a value fixed when a run starts, usable everywhere in the flow, decorators included.

A Config is a class attribute of the flow, like a Parameter, but its value is read before the flow's decorators
and mutators are evaluated, so it can shape the flow: ``@resources(cpu=config.cpu)``,
``@project(name=config_expr("config").project)``, a parameter's default, a FlowMutator. Its value comes, in this
order, from ``--config-value NAME JSON`` (or ``METAFLOW_FLOW_CONFIG_VALUE``), ``--config NAME PATH`` (or
``METAFLOW_FLOW_CONFIG``), the file named by ``default=``, or ``default_value=``. Text is parsed as JSON, or by
``parser=`` (a function, or its dotted name). Steps see the value as a read-only :class:`ConfigValue`; it is
stored with every task as the plain dict it holds.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from flowstone.errors import ParameterError
from flowstone.flow.config_expr import UNPACK_PREFIX, ConfigExpr, ConfigValue
from flowstone.flow.parameters import Parameter, ParameterContext

__all__ = ["Config", "ConfigValue", "config_namespace", "config_parameters", "configs_by_name", "load_config_values"]

Parser = Callable[[str], Any]


class Config(Parameter):
    """A config of the flow: ``config = Config("config", default="config.json")``.

    ``default``: a file to read (or a function of a ParameterContext giving its path); ``default_value``: the
    value itself, as a dict or as text (or a function giving either). Give one of them at most. ``parser``: turns
    the text into a mapping (a function or a dotted name; a name starting with '.' is inside flowstone).
    ``plain=True`` gives steps the parsed value as it is instead of a ConfigValue.
    """

    is_config: ClassVar[bool] = True

    def __init__(self, name: str, default: Any = None, default_value: Any = None, help: str | None = None,
                 required: bool | None = None, parser: str | Parser | None = None, plain: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        if default is not None and default_value is not None:
            raise ParameterError(f"Config '{name}': give default= (a file) or default_value= (a value), not both.")
        super().__init__(name, type=str, help=help, required=bool(required), **kwargs)
        self.default_path = default
        self.default_value = default_value
        self.parser = parser
        self.plain = plain
        self._value: Any = None  # set once the flow's configs are read

    # -- in steps: the value, read-only ---------------------------------------------------------------
    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return self.presented(obj._parameter_value(self.attribute_name))

    def presented(self, value: Any) -> Any:
        """What code of the flow sees of the stored ``value``: a ConfigValue unless the config is plain."""
        return ConfigValue(value) if isinstance(value, Mapping) and not self.plain else value

    def resolve_default(self, flow_name: str, user_name: str, configs: Any = None) -> Any:
        return self._value  # stored as a parameter of the run: the plain value read for this run

    def convert(self, value: Any) -> Any:
        return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "type": "config"}

    # -- in the class body: expressions over the value, evaluated once it is known --------------------
    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(ConfigExpr(self.name), name)

    def __getitem__(self, key: Any) -> ConfigExpr:
        if isinstance(key, str) and key.startswith(UNPACK_PREFIX):
            return ConfigExpr(self.name)
        return ConfigExpr(self.name)[key]

    def keys(self) -> list[str]:
        """``**config`` in a decorator's arguments spreads the config's keys as keywords."""
        return [UNPACK_PREFIX + self.name]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __repr__(self) -> str:
        return f"Config({self.name!r})"


def config_parameters(flow_cls: type) -> list[tuple[str, Config]]:
    """(attribute name, Config) for every config of the flow."""
    return [(attr, p) for attr, p in flow_cls._get_parameters() if p.is_config]  # type: ignore[attr-defined]


def configs_by_name(flow_cls: type) -> dict[str, Any]:
    """Config name -> value as code of the flow sees it (what config expressions are evaluated with)."""
    return {cfg.name: cfg.presented(cfg._value) for _, cfg in config_parameters(flow_cls)}


def config_namespace(flow_cls: type) -> ConfigValue:
    """The flow's configs as attributes (``ctx.configs.name.key`` in a parameter's default function)."""
    return ConfigValue(configs_by_name(flow_cls))


# -- reading the values -----------------------------------------------------------------------------
def load_config_values(flow_cls: type, paths: Mapping[str, str], values: Mapping[str, Any],
                       user_name: str) -> dict[str, Any]:  # fmt: skip
    """Config name -> value for every config of ``flow_cls``: from ``values`` (JSON text or an object), else the
    file in ``paths``, else the config's defaults. Every problem is reported at once, as a ParameterError."""
    configs = {cfg.name: cfg for _, cfg in config_parameters(flow_cls)}
    if len(configs) != len(config_parameters(flow_cls)):
        raise ParameterError(f"Two configs of {flow_cls.__name__} have the same name: give each its own.")
    problems = [f"'{name}' is not a config of the flow" for name in sorted({*paths, *values} - set(configs))]
    problems += [f"'{name}' is given both as a file and as a value" for name in sorted(set(paths) & set(values))]
    result: dict[str, Any] = {}
    for name, cfg in configs.items():
        try:
            result[name] = _read_config(cfg, paths.get(name), values.get(name), flow_cls.__name__, user_name)
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        known = ", ".join(sorted(configs)) or "none"
        raise ParameterError(f"Bad config values: {'; '.join(problems)}. The flow's configs: {known}.")
    return result


def _read_config(cfg: Config, path: str | None, value: Any, flow_name: str, user_name: str) -> Any:
    context = ParameterContext(flow_name, user_name, cfg.name, None)
    if value is not None:
        return _parse(cfg, value)
    if path is not None:
        return _parse(cfg, _read_file(cfg, path, "configuration file"))
    if cfg.default_path is not None:
        default = cfg.default_path(context) if callable(cfg.default_path) else cfg.default_path
        return _parse(cfg, _read_file(cfg, str(default), "default configuration file"))
    if cfg.default_value is not None:
        default = cfg.default_value(context) if callable(cfg.default_value) else cfg.default_value
        return _parse(cfg, default)
    if cfg.required:
        raise ParameterError(f"config '{cfg.name}' is required: pass --config-value {cfg.name} JSON "
                             f"or --config {cfg.name} PATH")  # fmt: skip
    return None


def _read_file(cfg: Config, path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ParameterError(f"the {what} {path} of config '{cfg.name}' cannot be read ({exc.strerror})") from exc


def _parse(cfg: Config, value: Any) -> Any:
    """The config's value from text (or from an object given as it is, which a parser sees as JSON text)."""
    if not isinstance(value, str):
        if cfg.parser is None:
            return json.loads(json.dumps(value))  # plain, detached data: what the run stores
        value = json.dumps(value)
    if cfg.parser is not None:
        parsed = _parser_of(cfg)(value)
        if not cfg.plain and not isinstance(parsed, Mapping):
            raise ParameterError(f"the parser of config '{cfg.name}' returned a {type(parsed).__name__}, not a "
                                 f"mapping ({parsed!r}); pass plain=True to keep any value")  # fmt: skip
        return parsed
    if cfg.plain:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"the value of config '{cfg.name}' is not valid JSON ({exc})") from exc


def _parser_of(cfg: Config) -> Parser:
    parser = cfg.parser
    if callable(parser):
        return parser
    assert isinstance(parser, str)
    dotted = "flowstone" + parser if parser.startswith(".") else parser
    module_name, _, function_name = dotted.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), function_name, None)
    except ImportError as exc:
        raise ParameterError(f"the parser '{parser}' of config '{cfg.name}' cannot be imported ({exc})") from exc
    if not callable(function):
        raise ParameterError(f"the parser '{parser}' of config '{cfg.name}' names no function")
    return function
