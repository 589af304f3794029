"""Metaflow's ``metaflow_version`` module: ``get_version()`` names the running framework's version."""

from __future__ import annotations

__all__ = ["get_version"]


def get_version(public: bool = False) -> str:
    """flowstone's version (``public`` is accepted as Metaflow's function takes it)."""
    from flowstone import __version__

    return __version__
