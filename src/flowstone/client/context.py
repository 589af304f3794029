"""Process-wide client state: the current namespace and the datastore the client reads.

Like Metaflow, ``namespace()`` changes what every client object sees in this process; the default is the
current user's namespace (``user:<name>``). The datastore is the one of the current settings (inside a step:
its run's; elsewhere: the environment's) unless ``metadata('local@/path')`` or ``datastore(...)`` points
elsewhere.
"""

from __future__ import annotations

from typing import Any

from flowstone.datastore import FlowDataStore
from flowstone.flow.current import get_username
from flowstone.settings import Settings, current_settings
from flowstone.storage import Storage, make_storage

__all__ = [
    "datastore",
    "default_metadata",
    "default_namespace",
    "flow_datastore",
    "get_metadata",
    "get_namespace",
    "metadata",
    "namespace",
    "root_storage",
]

_UNSET = object()
# "settings": chosen with datastore()/metadata(), else None; "storage" and "flows" are built for "built_for"
_state: dict[str, Any] = {"namespace": _UNSET, "settings": None, "built_for": None, "storage": None, "flows": {}}


def namespace(ns: str | None) -> str | None:
    """Switch what client objects see to the runs tagged ``ns`` (None: every run). Returns ``ns``."""
    _state["namespace"] = ns
    return ns


def get_namespace() -> str | None:
    """The current namespace (None means every run is visible)."""
    if _state["namespace"] is _UNSET:
        _state["namespace"] = f"user:{get_username()}"
    return _state["namespace"]


def default_namespace() -> str:
    """Go back to the current user's namespace and return it."""
    ns = f"user:{get_username()}"
    _state["namespace"] = ns
    return ns


def _settings() -> Settings:
    """The settings the client reads with; what was built for other settings is dropped."""
    settings = _state["settings"] or current_settings()
    if settings != _state["built_for"]:
        _state.update(built_for=settings, storage=None, flows={})
    return settings


def datastore(ds_type: str | None = None, root: str | None = None) -> str:
    """Read runs from this datastore (type and root); returns its description, e.g. ``local@/path``."""
    overrides: dict[str, Any] = {"default_datastore": ds_type} if ds_type else {}
    settings = Settings.from_env(**overrides)
    if root:
        settings = settings.replace(**{f"datastore_sysroot_{settings.default_datastore}": root})
    _state["settings"] = settings
    return get_metadata()


def metadata(spec: str) -> str:
    """Metaflow's way to choose where runs are read from: ``'local'`` or ``'local@/path/to/.flowstone'``."""
    ds_type, _, root = spec.partition("@")
    return datastore(ds_type or None, root or None)


def get_metadata() -> str:
    storage = root_storage()
    return f"{storage.TYPE}@{storage.root}"


def default_metadata() -> str:
    """Go back to the datastore given by the environment."""
    _state["settings"] = None
    return get_metadata()


def root_storage() -> Storage:
    """The storage the client reads."""
    settings = _settings()
    if _state["storage"] is None:
        _state["storage"] = make_storage(settings.default_datastore, settings)
    return _state["storage"]


def flow_datastore(flow_name: str, ds_spec: tuple[str, str] | None = None) -> FlowDataStore:
    """The (cached) datastore of ``flow_name``: the current one, or the one named by ``ds_spec`` (type, root)."""
    key = (flow_name, ds_spec)
    settings = _settings()
    cached = _state["flows"].get(key)
    if cached is None:
        storage = root_storage() if ds_spec is None else _storage_for(ds_spec)
        cached = _state["flows"][key] = FlowDataStore(flow_name, storage=storage, settings=settings)
    return cached


def _storage_for(ds_spec: tuple[str, str]) -> Storage:
    current = root_storage()
    if (current.TYPE, current.root) == ds_spec:
        return current
    return make_storage(ds_spec[0], _settings(), ds_spec[1])


def normalize_root(ds_type: str, root: str) -> str:
    """A root as its storage spells it, so equal roots compare equal."""
    import os

    return os.path.abspath(os.path.expanduser(root)) if ds_type == "local" else root


def current_ds_spec() -> tuple[str, str]:
    storage = root_storage()
    return storage.TYPE, storage.root
