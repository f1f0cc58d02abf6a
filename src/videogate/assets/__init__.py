"""The gateway's own copies of generated media (local directory or S3-compatible storage)."""
