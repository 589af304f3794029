"""s3 layer."""
