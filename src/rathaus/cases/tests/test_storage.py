"""Where documents are stored: the file system by default, S3-compatible storage by configuration."""

from __future__ import annotations

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.core.files.storage.handler import StorageHandler

from rathaus.config.storage import storages_from_env

S3_VARS = ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME", "AWS_S3_ACCESS_KEY_ID",
           "AWS_S3_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_LOCATION",
           "AWS_S3_ADDRESSING_STYLE", "AWS_S3_ENCRYPT", "STORAGE_BACKEND")


@pytest.fixture
def env(monkeypatch):
    for name in S3_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_file_system_is_the_default(env, tmp_path):
    storages = storages_from_env(environ.Env(), media_root=tmp_path)
    storage = StorageHandler(storages)["default"]
    assert isinstance(storage, FileSystemStorage) and storage.location == str(tmp_path)


def test_storage_backend_s3_selects_django_storages_with_the_configured_bucket(env, tmp_path):
    from storages.backends.s3 import S3Storage

    env.setenv("STORAGE_BACKEND", "s3")
    env.setenv("AWS_STORAGE_BUCKET_NAME", "rathaus-dokumente")
    env.setenv("AWS_S3_ENDPOINT_URL", "https://s3.example.de")
    env.setenv("AWS_S3_REGION_NAME", "eu-central-1")
    env.setenv("AWS_S3_ACCESS_KEY_ID", "key-id")
    env.setenv("AWS_S3_SECRET_ACCESS_KEY", "secret")
    env.setenv("AWS_S3_ADDRESSING_STYLE", "path")
    env.setenv("AWS_S3_ENCRYPT", "true")
    storages = storages_from_env(environ.Env(), media_root=tmp_path)
    assert storages["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    storage = StorageHandler(storages)["default"]  # built without contacting any server
    assert isinstance(storage, S3Storage)
    assert (storage.bucket_name, storage.endpoint_url, storage.region_name, storage.access_key, storage.secret_key) == (
        "rathaus-dokumente", "https://s3.example.de", "eu-central-1", "key-id", "secret")
    # Private objects, never overwritten, encrypted at rest as asked.
    assert storage.default_acl is None and storage.file_overwrite is False and storage.querystring_auth is True
    assert storage.object_parameters == {"ServerSideEncryption": "AES256"} and storage.addressing_style == "path"


def test_s3_without_a_bucket_or_an_unknown_backend_is_a_configuration_error(env, tmp_path):
    env.setenv("STORAGE_BACKEND", "s3")
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        storages_from_env(environ.Env(), media_root=tmp_path)
    env.setenv("STORAGE_BACKEND", "ftp")
    with pytest.raises(ImproperlyConfigured, match="filesystem"):
        storages_from_env(environ.Env(), media_root=tmp_path)


def test_production_settings_keep_the_configured_document_storage(env, tmp_path):
    import importlib
    import sys

    env.setenv("STORAGE_BACKEND", "s3")
    env.setenv("AWS_STORAGE_BUCKET_NAME", "b")
    env.setenv("SECRET_KEY", "x" * 50)
    env.setenv("ALLOWED_HOSTS", "rathaus.example.de")
    for name in ("rathaus.config.settings.production", "rathaus.config.settings.base"):
        sys.modules.pop(name, None)
    try:
        production = importlib.import_module("rathaus.config.settings.production")
        assert production.STORAGES["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
        assert production.STORAGES["staticfiles"]["BACKEND"].endswith("CompressedManifestStaticFilesStorage")
    finally:
        for name in ("rathaus.config.settings.production", "rathaus.config.settings.base"):
            sys.modules.pop(name, None)
