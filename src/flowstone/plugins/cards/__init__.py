"""Metaflow's ``metaflow.plugins.cards`` module path."""
