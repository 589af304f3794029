"""``Parameter`` and ``JSONType``: run-time inputs of a flow, read-only inside steps.

A Parameter is a class attribute of the flow. Its value is set on the command line (``--name value``), from
``FLOWSTONE_RUN_<NAME>``, or by its default (which may be a function of a :class:`ParameterContext`, or a
config expression). Inside a step, ``self.<attribute>`` gives the value; assigning to it is an error.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, NamedTuple

from flowstone.errors import ParameterError
from flowstone.flow.config_expr import contains_config_expr, resolve_config_exprs

__all__ = [
    "RESERVED_PARAMETER_NAMES",
    "RUN_OPTION_NAMES",
    "STEP_ATTRIBUTE_NAMES",
    "JSONType",
    "JSONTypeClass",
    "Parameter",
    "ParameterContext",
    "parameter_name_problems",
    "resolve_parameter_values",
]

RESERVED_PARAMETER_NAMES = frozenset(
    {
        "params", "with", "tag", "namespace", "obj", "tags", "decospecs", "run-id-file", "max-num-splits",
        "max-workers", "max-log-size", "user-namespace", "run-id", "task-id", "origin-run-id", "no-cache",
    }
)  # fmt: skip


#: Attributes every step reads on ``self``: a parameter by one of these names would hide them (the foreach
#: item, ``self.next``...).
STEP_ATTRIBUTE_NAMES = frozenset({"input", "index", "next", "name", "foreach_stack", "merge_artifacts",
                                  "script_name"})  # fmt: skip
#: The options of ``run`` and ``resume`` (with '_' for '-'): a parameter's own option by one of these names
#: would take the option's place.
RUN_OPTION_NAMES = frozenset({
    "max_workers", "max_num_splits", "tag", "tags", "run_id_file", "datastore_root", "namespace", "with",
    "ray_address", "no_cache", "cache_reads", "dry_run", "origin_run_id", "clone_only", "trust_origin", "help",
})  # fmt: skip


def parameter_name_problems(parameters: list[tuple[str, Parameter]]) -> list[str]:
    """What is wrong with the names of a flow's ``(attribute, Parameter)`` pairs: a parameter hiding what steps
    read on self, one taking the place of a run option, two parameters sharing one name."""
    problems = []
    seen: dict[str, str] = {}
    for attr, param in parameters:
        option = param.name.replace("-", "_")
        hidden = sorted({attr, option} & STEP_ATTRIBUTE_NAMES)
        if hidden:
            problems.append(f"Parameter '{attr}' would hide self.{hidden[0]}, which steps use; rename it.")
        elif option in RUN_OPTION_NAMES and not param.is_config:
            problems.append(f"Parameter '{param.name}' takes the name of the run option --{option.replace('_', '-')}"
                            f"; rename it.")  # fmt: skip
        if option in seen:
            problems.append(f"Parameters '{seen[option]}' and '{attr}' are both named '{param.name}': each would "
                            f"get the other's value; give them different names.")  # fmt: skip
        seen.setdefault(option, attr)
    return problems


class JSONTypeClass:
    """A parameter type whose command-line value is JSON, parsed into Python objects."""

    name = "JSON"

    def convert(self, value: Any, param_name: str) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ParameterError(f"Parameter '{param_name}': {value!r} is not valid JSON ({exc}).") from exc

    def __repr__(self) -> str:
        return "JSONType"


JSONType = JSONTypeClass()


class ParameterContext(NamedTuple):
    """What a default function of a parameter can look at (``configs``: the flow's configs by name, as
    attributes: ``ctx.configs.my_config.key``)."""

    flow_name: str
    user_name: str
    parameter_name: str
    configs: Any = None


_BOOL_WORDS = {"true": True, "1": True, "yes": True, "y": True, "false": False, "0": False, "no": False, "n": False}


class Parameter:
    """A flow parameter; use as a class attribute: ``alpha = Parameter('alpha', default=0.01)``."""

    #: Whether this is a Config (its value comes from --config / --config-value, not from --<name>).
    is_config: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: Any = None,
        help: str | None = None,
        required: bool = False,
        show_default: bool = True,
        separator: str | None = None,
        **kwargs: Any,
    ) -> None:
        if name in RESERVED_PARAMETER_NAMES or name.replace("_", "-") in RESERVED_PARAMETER_NAMES:
            raise ParameterError(f"Parameter name '{name}' is a reserved word; choose another name.")
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise ParameterError(f"Parameter name {name!r} may contain only letters, digits, '_' and '-'.")
        self.name = name
        self.default = default
        self.help = help
        self.required = required if contains_config_expr(required) else bool(required)
        self.show_default = show_default
        self.separator = separator
        self.kwargs = kwargs
        self._type_given = type is not None
        self.type = type if type is not None else _type_of_default(default)
        self.attribute_name = name  # replaced by __set_name__ with the class attribute's name
        self._check_separator()

    def _check_separator(self) -> None:
        if self.separator is not None and self.type is not str and not contains_config_expr(self.separator):
            raise ParameterError(f"Parameter '{self.name}': separator= is only allowed for string parameters.")

    def _resolve_config_exprs(self, configs: dict[str, Any]) -> None:
        """Replace config expressions among the parameter's arguments by their values (the configs are known)."""
        for attr in ("default", "help", "required", "show_default", "separator"):
            value = getattr(self, attr)
            if contains_config_expr(value):
                setattr(self, attr, resolve_config_exprs(value, configs, to_dict=True))
        self.kwargs = resolve_config_exprs(self.kwargs, configs, to_dict=True)
        if not self._type_given:
            self.type = _type_of_default(self.default)
        self._check_separator()

    # -- descriptor: read-only inside steps -------------------------------------------------------
    def __set_name__(self, owner: type, attribute_name: str) -> None:
        self.attribute_name = attribute_name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return obj._parameter_value(self.attribute_name)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"Parameter '{self.attribute_name}' is read-only inside a flow: assign to another attribute instead."
        )

    # -- values -----------------------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        return str(getattr(self.type, "name", None) or getattr(self.type, "__name__", self.type))

    def resolve_default(self, flow_name: str, user_name: str, configs: Any = None) -> Any:
        default = self.default
        if callable(default) and not isinstance(default, type):
            default = default(ParameterContext(flow_name, user_name, self.name, configs))
        return default

    def convert(self, value: Any) -> Any:
        """Turn a command-line or environment string (or a Python value) into the parameter's type."""
        if value is None:
            return None
        try:
            if isinstance(self.type, JSONTypeClass):
                return self.type.convert(value, self.name)
            if self.type is bool:
                if isinstance(value, bool):
                    return value
                word = str(value).strip().lower()
                if word not in _BOOL_WORDS:
                    raise ValueError(f"{value!r} is not a boolean (use true or false)")
                return _BOOL_WORDS[word]
            if self.type is str and self.separator and isinstance(value, str):
                return value.split(self.separator)
            if hasattr(self.type, "convert") and not isinstance(self.type, type):
                return self.type.convert(value, None, None)
            return value if isinstance(value, self.type) else self.type(value)
        except ParameterError:
            raise
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"Parameter '{self.name}': {value!r} is not a valid {self.type_name} ({exc})."
            ) from exc

    def describe(self) -> dict[str, Any]:
        default = self.default if not callable(self.default) else "<function>"
        try:
            json.dumps(default)
        except (TypeError, ValueError):
            default = repr(default)
        return {"name": self.name, "type": self.type_name, "default": default, "help": self.help,
                "required": self.required}  # fmt: skip

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r}, type={self.type_name})"


def _type_of_default(default: Any) -> Any:
    """The type a parameter takes from its default (str if the default is unknown yet or computed)."""
    if default is None or callable(default) or contains_config_expr(default):
        return str
    return builtins_type(default)


def builtins_type(value: Any) -> Any:
    if isinstance(value, bool):
        return bool
    if isinstance(value, (dict, list)):
        return JSONType
    return type(value)


def resolve_parameter_values(
    parameters: list[tuple[str, Parameter]],
    given: dict[str, Any],
    flow_name: str,
    user_name: str,
    configs: Any = None,
) -> dict[str, Any]:
    """Attribute name -> value for every parameter: given (by parameter name) or default, converted, checked.
    ``configs`` is what default functions see as ``ctx.configs``."""
    values = {}
    for attr, param in parameters:
        raw = given.get(param.name)
        if raw is None:
            raw = param.resolve_default(flow_name, user_name, configs)
        value = param.convert(raw)
        if value is None and param.required:
            raise ParameterError(
                f"Parameter '{param.name}' is required: pass --{param.name} VALUE "
                f"(or set FLOWSTONE_RUN_{param.name.upper().replace('-', '_')})."
            )
        values[attr] = value
    return values
