"""Artifacts and task records over any storage: content-addressed, verified, deduplicated."""

from flowstone.datastore.content_addressed import ContentAddressedStore, StoredBlob
from flowstone.datastore.flow_datastore import FlowDataStore
from flowstone.datastore.records import ArtifactRecord
from flowstone.datastore.serializers import Serializer, SerializerRegistry, default_registry
from flowstone.datastore.task_datastore import TaskDataStore

__all__ = [
    "ArtifactRecord",
    "ContentAddressedStore",
    "FlowDataStore",
    "Serializer",
    "SerializerRegistry",
    "StoredBlob",
    "TaskDataStore",
    "default_registry",
]
