"""Metaflow's module paths under ``metaflow.plugins`` that user code imports, served by flowstone's modules."""
