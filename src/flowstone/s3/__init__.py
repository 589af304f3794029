"""flowstone's S3 client (Metaflow's ``S3`` API) and the transport beneath it.

    from flowstone import S3
    with S3(s3root="s3://bucket/prefix") as s3:
        s3.put("greeting", "hello")
        print(s3.get("greeting").text)

Names are imported on first use; the transport (:mod:`flowstone.s3.transport`, which needs ``obstore``) only when
a request is made.
"""

from __future__ import annotations

from flowstone._lazy import lazy_exports

_ERRORS = "flowstone.s3.errors"
_OBJECTS = "flowstone.s3.objects"
_EXPORTS = {
    "S3": "flowstone.s3.client",
    "S3Config": "flowstone.s3.config",
    "RetryPolicy": "flowstone.s3.config",
    "S3Object": _OBJECTS,
    "S3GetObject": _OBJECTS,
    "S3PutObject": _OBJECTS,
    "RangeInfo": _OBJECTS,
    **dict.fromkeys(
        [
            "S3Exception",
            "S3NotFound",
            "S3BucketNotFound",
            "S3AccessDenied",
            "S3URLException",
            "S3InvalidObject",
            "S3InvalidRange",
            "S3InsufficientDiskSpace",
            "S3TransientError",
            "MetaflowS3Exception",
            "MetaflowS3NotFound",
            "MetaflowS3AccessDenied",
            "MetaflowS3URLException",
            "MetaflowS3InvalidObject",
            "MetaflowS3InvalidRange",
            "MetaflowS3InsufficientDiskSpace",
        ],
        _ERRORS,
    ),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
