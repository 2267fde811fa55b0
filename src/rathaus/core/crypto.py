"""Secrets at rest: values the application must read back (e.g. webhook signing secrets) are stored encrypted.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) with a key derived from SECRET_KEY,
so a copy of the database alone does not reveal them. After a change of SECRET_KEY, the old key
in SECRET_KEY_FALLBACKS still decrypts; values are encrypted with the current key when next
written (webhook secrets: at the next rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "enc:v1:"
_PURPOSE = b"rathaus.core.crypto.secrets-at-rest"


class SecretUnreadable(ImproperlyConfigured):
    """An encrypted value that none of SECRET_KEY and SECRET_KEY_FALLBACKS decrypts."""


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hmac.new(str(key).encode(), _PURPOSE, hashlib.sha256).digest()))
                        for key in keys if key])


def encrypt(plain: str) -> str:
    """``enc:v1:<Fernet token>`` for `plain`."""
    return PREFIX + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    """The plain value of `stored`; a value without the prefix (written before encryption) as it is."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "An encrypted value cannot be decrypted: SECRET_KEY changed without the old key in "
            "SECRET_KEY_FALLBACKS.") from None


def is_encrypted(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(PREFIX)
