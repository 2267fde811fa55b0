"""ClamAV through clamd's INSTREAM command, over TCP (tcp://host:3310) or a Unix socket (unix:///path).

The protocol (clamd(8)): send ``zINSTREAM\\0``, then the data in chunks, each prefixed by its length
as a 4-byte big-endian integer, then a zero-length chunk; clamd answers one NUL-terminated line:
``stream: OK``, ``stream: <signature> FOUND`` or ``... ERROR``.
"""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlsplit

from django.conf import settings

from ..base import Scanner, ScannerUnavailable, ScanResult
from ..registry import register

CHUNK = 64 * 1024
MAX_REPLY = 4096


@register("clamav")
class ClamAVScanner(Scanner):
    label = "ClamAV"

    def __init__(self, url: str | None = None, timeout: float | None = None) -> None:
        self.url = url if url is not None else getattr(settings, "CLAMAV_URL", "")
        self.timeout = timeout if timeout is not None else float(getattr(settings, "CLAMAV_TIMEOUT", 30))

    def _connect(self) -> socket.socket:
        if not self.url:
            raise ScannerUnavailable("ClamAV is configured as scanner but CLAMAV_URL is empty")
        parts = urlsplit(self.url)
        try:
            if parts.scheme == "tcp":
                return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 3310), timeout=self.timeout)
            if parts.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(parts.path)
                return sock
        except OSError as exc:
            raise ScannerUnavailable(f"clamd not reachable at {self.url}: {exc}") from exc
        raise ScannerUnavailable(f"CLAMAV_URL must start with tcp:// or unix://, not {self.url!r}")

    def scan(self, raw: bytes) -> ScanResult:
        sock = self._connect()
        try:
            with sock:
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(raw), CHUNK):
                    chunk = raw[start:start + CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                reply = b""
                while b"\0" not in reply and len(reply) < MAX_REPLY:
                    data = sock.recv(1024)
                    if not data:
                        break
                    reply += data
        except OSError as exc:
            # clamd closes the connection early when the stream exceeds its StreamMaxLength.
            raise ScannerUnavailable(f"clamd scan failed: {exc}") from exc
        return parse_reply(reply)


def parse_reply(reply: bytes) -> ScanResult:
    text = reply.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    if text.endswith(" FOUND"):
        signature = text.removesuffix(" FOUND").split(":", 1)[-1].strip()
        return ScanResult(infected=True, signature=signature[:200])
    if text.endswith(": OK"):
        return ScanResult(infected=False)
    raise ScannerUnavailable(f"clamd answered {text[:200]!r}")
