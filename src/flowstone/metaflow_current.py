"""Metaflow's module path for ``current``: ``from metaflow.metaflow_current import current`` keeps working."""

from flowstone.flow.current import Current, current

__all__ = ["Current", "current"]
