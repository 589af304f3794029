"""Metaflow's module path ``metaflow.plugins.cards.component_serializer`` (the class of ``current.card``)."""

from flowstone.cards.collector import CardComponentCollector, CardComponentManager, ComponentStore

__all__ = ["CardComponentCollector", "CardComponentManager", "ComponentStore"]
