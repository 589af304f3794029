"""Metaflow's configuration, read where no ``FLOWSTONE_*`` variable gives a setting: a ``METAFLOW_*`` variable,
else Metaflow's profile file (``$METAFLOW_HOME/config.json``, or ``config_<METAFLOW_PROFILE>.json``;
``METAFLOW_HOME`` defaults to ``~/.metaflowconfig``). A team moving from Metaflow keeps its configuration.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from flowstone.errors import ConfigurationError

__all__ = ["metaflow_value", "profile_path"]

def profile_path(env: Mapping[str, str]) -> str:
    """The Metaflow profile file the environment points at (it may not exist)."""
    home = env.get("METAFLOW_HOME") or os.path.join("~", ".metaflowconfig")
    profile = env.get("METAFLOW_PROFILE")
    name = f"config_{profile}.json" if profile else "config.json"
    return os.path.expanduser(os.path.join(home, name))


@functools.lru_cache(maxsize=8)
def _profile(path: str, named: bool) -> dict[str, Any]:
    """The profile file's variables (read once per process). An absent default profile is an empty one; a
    profile named by METAFLOW_PROFILE must exist, as Metaflow requires."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if named:
            raise ConfigurationError(f"METAFLOW_PROFILE names a profile, but {path} does not exist.") from None
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"The Metaflow profile {path} cannot be read ({exc}); fix or remove it.") from exc
    return data if isinstance(data, dict) else {}


def metaflow_value(variable: str, env: Mapping[str, str]) -> str | None:
    """Metaflow's ``variable`` from the environment, else from its profile file; None if neither has it."""
    value = env.get(variable)
    if value:
        return value
    if env.get("METAFLOW_PROFILE") is None and env.get("METAFLOW_HOME") is None and not _default_profile_exists():
        return None  # the common case, settled without reading a file
    found = _profile(profile_path(env), bool(env.get("METAFLOW_PROFILE"))).get(variable)
    return None if found in (None, "") else str(found)


@functools.lru_cache(maxsize=1)
def _default_profile_exists() -> bool:
    return os.path.exists(profile_path({}))
