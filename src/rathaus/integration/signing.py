"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body`` (the scheme in docs/integration.md).

The header carries one ``v1=`` value per valid secret, so a receiver keeps verifying while a
secret is rotated: it accepts the request if any ``v1`` matches a secret it knows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Rathaus-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# Receivers should refuse older timestamps, so a captured request cannot be replayed later.
DEFAULT_TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    """A new random signing secret (256 bits, URL-safe text)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: Sequence[str], body: bytes, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex>[,v1=<hex>…]``: one signature per secret, newest first."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, body, timestamp)}" for s in secrets_)])


def signature_verify(header: str, body: bytes, secret: str, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS,
                     now: float | None = None) -> bool:
    """What a receiver does (the reference for the snippet in docs/integration.md)."""
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
