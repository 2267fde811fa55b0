"""Where files go: the local file system by default, S3-compatible object storage by configuration.

Read by the settings module; a plain function of the environment so a test can check that
`STORAGE_BACKEND=s3` selects django-storages' S3 backend without an S3 server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

STATICFILES = {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}


def storages_from_env(env, *, media_root: Path | str) -> dict[str, dict[str, Any]]:
    """The STORAGES setting for STORAGE_BACKEND (`filesystem` or `s3`) and its variables."""
    backend = env.str("STORAGE_BACKEND", default="filesystem").strip().lower()
    if backend in ("filesystem", "file", "local", ""):
        default: dict[str, Any] = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                   "OPTIONS": {"location": str(media_root)}}
    elif backend == "s3":
        bucket = env.str("AWS_STORAGE_BUCKET_NAME", default="")
        if not bucket:
            raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME")

        def optional(name: str) -> str | None:
            return env.str(name, default="") or None

        default = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": optional("AWS_S3_ENDPOINT_URL"),  # MinIO, Ceph, a German cloud's S3 …
            "region_name": optional("AWS_S3_REGION_NAME"),
            # Empty keys: boto3's own chain (instance role, ~/.aws) provides them.
            "access_key": optional("AWS_S3_ACCESS_KEY_ID") or optional("AWS_ACCESS_KEY_ID"),
            "secret_key": optional("AWS_S3_SECRET_ACCESS_KEY") or optional("AWS_SECRET_ACCESS_KEY"),
            "location": env.str("AWS_LOCATION", default=""),
            "addressing_style": optional("AWS_S3_ADDRESSING_STYLE"),
            "signature_version": env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4"),
            # Documents are private: served through permission-checked views, never by public URL.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"ServerSideEncryption": "AES256"} if env.bool("AWS_S3_ENCRYPT", default=False) else {},
        }}
    else:
        raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'filesystem' or 's3', not {backend!r}")
    return {"default": default, "staticfiles": dict(STATICFILES)}
