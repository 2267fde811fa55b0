"""How a delivery leaves the building: an HTTP POST (no redirects, a timeout) or an e-mail.

Both return an :class:`Outcome` instead of raising, so the caller records every attempt the
same way. Nothing here touches the database.
"""

from __future__ import annotations

import http.client
import ipaddress
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage

EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    duration_ms: int = 0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead the signed body anywhere (or to an internal address): refuse it, the
    # 3xx then counts as a failed attempt and the staff see where the receiver wanted to send it.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class InternalAddressRefused(OSError):
    """The receiver's address lies in a private, loopback, link-local or otherwise internal network."""


def _check_peer(sock) -> None:
    # Checked on the socket actually connected, after DNS: a name that resolves to an internal
    # address (or is re-pointed there after a first check) cannot reach the town's own network.
    if getattr(settings, "RATHAUS_WEBHOOK_ALLOW_PRIVATE", False):
        return
    address = ipaddress.ip_address(sock.getpeername()[0].split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        sock.close()
        raise InternalAddressRefused(f"Adresse {address} liegt in einem internen Netz; Zustellung dorthin ist gesperrt.")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        _check_peer(self.sock)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        # HTTPSConnection.connect opens the TCP socket and then wraps it in TLS; check before
        # any byte of the handshake (or the signed body) leaves.
        http.client.HTTPConnection.connect(self)
        _check_peer(self.sock)
        if self._tunnel_host:
            server_hostname = self._tunnel_host
        else:
            server_hostname = self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=server_hostname)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


# No proxy from the environment: through a proxy only the proxy's address could be checked.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects, _GuardedHTTPHandler,
                                      _GuardedHTTPSHandler)


# For an address the operator configured (e.g. the back-office system in the town's own network):
# internal addresses allowed, redirects still refused.
_operator_opener = urllib.request.build_opener(_RefuseRedirects)


def open_request(request: urllib.request.Request, *, timeout: float, internal_allowed: bool = False) -> int:
    """Send `request` without following redirects; returns the status (an HTTPError for 3xx-5xx).

    Only an address the operator configured may lie in an internal network (`internal_allowed`);
    one that a town's staff entered (a webhook, a process model's parameter) may not.
    """
    if not http_url_ok(request.full_url):
        raise ValueError("Nur http- und https-Adressen sind erlaubt.")
    opener = _operator_opener if internal_allowed else _opener
    with opener.open(request, timeout=timeout) as response:
        return response.status


def http_url_ok(url: str) -> bool:
    """Only absolute http(s) URLs with a host and without credentials in them."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username and not parts.password


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_BYTES].decode("utf-8", errors="replace")


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Outcome:
    """POST `body`; a 2xx answer within `timeout` seconds is success, anything else a failed attempt."""
    if not http_url_ok(url):
        return Outcome(False, error="Nur http- und https-Adressen sind erlaubt.")
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - scheme checked above
                                     headers={"Content-Type": "application/json; charset=utf-8", **headers})
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(EXCERPT_BYTES)
            status = response.status
    except urllib.error.HTTPError as exc:
        raw = b""
        try:
            raw = exc.read(EXCERPT_BYTES)
        except OSError:
            pass
        error = f"HTTP {exc.code}"
        if 300 <= exc.code < 400:
            error = f"HTTP {exc.code}: Weiterleitung abgelehnt ({exc.headers.get('Location', '')[:200]})"
        return Outcome(False, exc.code, error, _excerpt(raw), elapsed())
    except TimeoutError:
        return Outcome(False, error=f"Zeitüberschreitung nach {timeout:g} s", duration_ms=elapsed())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, InternalAddressRefused):
            return Outcome(False, error=str(reason), duration_ms=elapsed())
        if isinstance(reason, TimeoutError):
            return Outcome(False, error=f"Zeitüberschreitung nach {timeout:g} s", duration_ms=elapsed())
        return Outcome(False, error=f"Verbindung fehlgeschlagen: {reason}"[:500], duration_ms=elapsed())
    if 200 <= status < 300:
        return Outcome(True, status, "", _excerpt(raw), elapsed())
    return Outcome(False, status, f"HTTP {status}", _excerpt(raw), elapsed())


def send_email(*, to: str, subject: str, body: str, headers: dict[str, str], attachment: tuple[str, bytes, str] | None
               ) -> Outcome:
    """Hand the e-mail to the configured mail backend; accepted by it counts as delivered."""
    started = time.monotonic()
    message = EmailMessage(subject, body, to=[to], headers=headers)
    if attachment is not None:
        message.attach(*attachment)
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - SMTP errors come in many classes; each is a failed attempt
        return Outcome(False, error=f"E-Mail nicht angenommen: {exc}"[:500],
                       duration_ms=int((time.monotonic() - started) * 1000))
    return Outcome(True, duration_ms=int((time.monotonic() - started) * 1000))
