"""What the S3 client and transport raise, under :class:`~flowstone.errors.FlowstoneException`.

    S3Exception                 an S3 operation failed (with FLOWSTONE_DEBUG=1 obstore's error is the ``__cause__``)
    ├── S3NotFound              the object does not exist
    │   └── S3BucketNotFound    the bucket does not exist
    ├── S3AccessDenied          the credentials are missing, wrong, or lack a permission
    ├── S3URLException          a URL or key is malformed, or a relative key has no root to resolve against
    ├── S3InvalidObject         a value to store is of a type that cannot be stored
    ├── S3InvalidRange          a byte range lies outside the object
    ├── S3InsufficientDiskSpace the local disk filled up while downloading
    └── S3TransientError        a transient failure (throttling, 5xx, network, timeouts) outlasted every retry

Metaflow's names (``MetaflowS3Exception``, ``MetaflowS3NotFound``, ...) are aliases of these classes. Messages
name the URL and say what to do; they never contain credentials.
"""

from __future__ import annotations

from flowstone.errors import FlowstoneException

__all__ = [
    "MetaflowS3AccessDenied",
    "MetaflowS3Exception",
    "MetaflowS3InsufficientDiskSpace",
    "MetaflowS3InvalidObject",
    "MetaflowS3InvalidRange",
    "MetaflowS3NotFound",
    "MetaflowS3URLException",
    "S3AccessDenied",
    "S3BucketNotFound",
    "S3Exception",
    "S3InsufficientDiskSpace",
    "S3InvalidObject",
    "S3InvalidRange",
    "S3NotFound",
    "S3TransientError",
    "S3URLException",
]


class S3Exception(FlowstoneException):
    """An S3 operation failed."""

    headline = "S3 error"


class S3NotFound(S3Exception):
    """The object does not exist."""

    headline = "S3 object not found"


class S3BucketNotFound(S3NotFound):
    """The bucket does not exist."""

    headline = "S3 bucket not found"


class S3AccessDenied(S3Exception):
    """The credentials are missing, invalid, or not allowed to do what was asked."""

    headline = "S3 access denied"


class S3URLException(S3Exception):
    """A URL or key is malformed, or a relative key was given to a client without a root."""

    headline = "Invalid S3 URL"


class S3InvalidObject(S3Exception):
    """A value to store cannot be stored (only str, bytes-like objects, files and file paths can)."""

    headline = "Invalid S3 object"


class S3InvalidRange(S3Exception):
    """A byte range starts at or after the end of the object."""

    headline = "Invalid S3 range"


class S3InsufficientDiskSpace(S3Exception):
    """The local disk (where downloads go) has no room left."""

    headline = "No disk space for S3 downloads"


class S3TransientError(S3Exception):
    """A transient failure persisted through every retry."""

    headline = "S3 unavailable"


MetaflowS3Exception = S3Exception
MetaflowS3NotFound = S3NotFound
MetaflowS3AccessDenied = S3AccessDenied
MetaflowS3URLException = S3URLException
MetaflowS3InvalidObject = S3InvalidObject
MetaflowS3InvalidRange = S3InvalidRange
MetaflowS3InsufficientDiskSpace = S3InsufficientDiskSpace
