"""``@secrets(sources=[...])``: environment variables for a step, read from local sources when the task starts.

A source is Metaflow's spec: a string ``"<type>.<id>"`` or a dict ``{"type": ..., "id": ..., "options": {...}}``.
flowstone reads secrets from sources on this machine (or on the node a task runs on):

- ``json-file``: ``id`` is the path of a JSON object of names to values (``"json-file./run/secrets/db.json"``);
- ``env-file``: ``id`` is the path of a file of ``NAME=value`` lines (``#`` comments and blank lines skipped);
- ``inline``: ``options={"env_vars": {...}}`` (for tests and examples, as in Metaflow).

A string naming an existing ``.json`` or ``.env`` file needs no type. Cloud secret managers (Metaflow's
``aws-secrets-manager`` and the like) are refused when the flow is checked, with what to use instead. The values
are read in the task's process, never stored, and never part of the cache key (the sources' names are).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from flowstone.errors import FlowSpecError, FlowstoneException
from flowstone.flow.decorators import StepDecorator, make_step_decorator

__all__ = ["SecretsDecorator", "secrets"]

LOCAL_TYPES = ("json-file", "env-file", "inline")


def _source(spec: Any) -> tuple[str, str, dict[str, Any]]:
    """(type, id, options) of one source spec."""
    if isinstance(spec, dict):
        kind, ident, options = spec.get("type"), spec.get("id", ""), spec.get("options") or {}
    elif isinstance(spec, str):
        if os.path.splitext(spec)[1] in (".json", ".env") and os.path.isfile(spec):
            kind, ident, options = ("json-file" if spec.endswith(".json") else "env-file"), spec, {}
        else:
            kind, _, ident = spec.partition(".")
            options = {}
    else:
        raise FlowSpecError(f"@secrets sources are strings or dicts, got {spec!r}.")
    if kind not in LOCAL_TYPES:
        raise FlowSpecError(
            f"@secrets source {spec!r}: flowstone reads secrets from local sources only ({', '.join(LOCAL_TYPES)}), "
            f"not from {kind!r}. Export the secret to a JSON or env file on the machine that runs the task and "
            f"name it, e.g. 'json-file./path/to/secrets.json'."
        )
    return str(kind), str(ident), dict(options)


def _read_env_file(path: str) -> dict[str, str]:
    values = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, eq, value = line.removeprefix("export ").partition("=")
            if not eq or not name.strip():
                raise FlowstoneException(f"{path}, line {number}: expected NAME=value.")
            values[name.strip()] = value.strip().strip("'\"")
    return values


def _read(kind: str, ident: str, options: dict[str, Any]) -> dict[str, str]:
    if kind == "inline":
        return {str(k): str(v) for k, v in (options.get("env_vars") or {}).items()}
    try:
        if kind == "env-file":
            return _read_env_file(ident)
        with open(ident, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise FlowstoneException(f"@secrets cannot read {kind} {ident!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise FlowstoneException(f"@secrets json-file {ident!r} must hold a JSON object of names to values.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


class SecretsDecorator(StepDecorator):
    name = "secrets"
    defaults: ClassVar[dict[str, Any]] = {"sources": [], "role": None, "allow_override": False}

    def _validate_attributes(self) -> None:
        sources = self.attributes["sources"]
        if not isinstance(sources, (list, tuple)):
            raise FlowSpecError(f"@secrets(sources=...) must be a list of sources, got {sources!r}.")
        for spec in sources:
            _source(spec)

    def task_environment(self) -> dict[str, str]:
        variables: dict[str, str] = {}
        for spec in self.attributes["sources"]:
            for name, value in _read(*_source(spec)).items():
                if name in variables:
                    raise FlowstoneException(f"@secrets: two sources set {name}; each variable may come from one.")
                variables[name] = value
        clashes = sorted(n for n in variables if n in os.environ)
        if clashes and not self.attributes["allow_override"]:
            raise FlowstoneException(
                f"@secrets would replace the variables {', '.join(clashes)} the task already has; "
                f"pass allow_override=True if that is meant."
            )
        return variables


secrets = make_step_decorator(SecretsDecorator)
