"""The datastore's exceptions, where Metaflow code imports them from (``metaflow.datastore.exceptions``)."""

from flowstone.errors import DataException, UnpicklableArtifactException

__all__ = ["DataException", "UnpicklableArtifactException"]
