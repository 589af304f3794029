"""Metaflow's exception names, for flows and scripts written against ``metaflow.exception``.

Each name is flowstone's own exception class (so ``except MetaflowNotFound`` catches ``FlowstoneNotFound``).
"""

from flowstone.client.tags import TaggingError
from flowstone.errors import (
    DataException,
    ExceptionWrapper,
    ExternalCommandFailed,
    FlowSpecError,
    FlowstoneException,
    FlowstoneNamespaceMismatch,
    FlowstoneNotFound,
    MergeArtifactsException,
    MissingInMergeArtifactsException,
    ParameterError,
    TaskFailed,
    TimeoutException,
    UnhandledInMergeArtifactsException,
    UnknownUser,
    UnpicklableArtifactException,
)

MetaflowException = FlowstoneException
MetaflowNotFound = FlowstoneNotFound
MetaflowUnknownUser = UnknownUser
MetaflowTaggingError = TaggingError
MetaflowNamespaceMismatch = FlowstoneNamespaceMismatch
MetaflowExceptionWrapper = ExceptionWrapper
InvalidNextException = FlowSpecError
ParameterFieldFailed = ParameterError

__all__ = [
    "DataException",
    "ExternalCommandFailed",
    "FlowstoneException",
    "FlowstoneNamespaceMismatch",
    "FlowstoneNotFound",
    "InvalidNextException",
    "MergeArtifactsException",
    "MetaflowException",
    "MetaflowExceptionWrapper",
    "MetaflowNamespaceMismatch",
    "MetaflowNotFound",
    "MetaflowTaggingError",
    "MetaflowUnknownUser",
    "MissingInMergeArtifactsException",
    "ParameterFieldFailed",
    "TaskFailed",
    "TimeoutException",
    "UnhandledInMergeArtifactsException",
    "UnpicklableArtifactException",
]
