"""Request guards that run before any view reads the body."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _

from .problems import ProblemResponse


class RequestLimitsMiddleware:
    """Refuses oversized bodies before they are read, with a problem document on the API."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = settings.RATHAUS_MAX_BODY_BYTES
        if length < 0 or length > limit:
            detail = _("Die Anfrage ist zu groß (höchstens %(mb)s MB).") % {"mb": limit // (1024 * 1024)}
            if request.path.startswith("/api/"):
                return ProblemResponse(413, "Payload Too Large", detail, type_="payload-too-large")
            return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
        # Looked for in the raw text, nothing parsed: the path, the query and the fields of ordinary
        # (urlencoded) posts; multipart bodies are left to the views and their forms (reading them
        # here would read uploads before the views' own checks).
        urlencoded = request.method == "POST" and request.content_type == "application/x-www-form-urlencoded"
        query = request.META.get("QUERY_STRING", "")
        if ("\x00" in request.path or "%00" in query or "\x00" in query
                or (urlencoded and (b"%00" in request.body or b"\x00" in request.body))):
            # No input of ours may hold a NUL character (PostgreSQL refuses it in text: a server error).
            detail = _("Die Adresse enthält ein Nullzeichen; so etwas kann keine Eingabe enthalten.")
            if request.path.startswith("/api/"):
                return ProblemResponse(400, "Bad Request", detail, type_="invalid-request")
            return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class TrustedProxyMiddleware:
    """Behind RATHAUS_TRUSTED_PROXY_COUNT reverse proxies, REMOTE_ADDR becomes the client's address.

    Each proxy appends the address it was called from to X-Forwarded-For, so the client is the
    entry that many places from the right; entries further left are whatever the client sent.
    Set first, it is what the audit trail, the rate limits and the login lockout all read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = settings.RATHAUS_TRUSTED_PROXY_COUNT
        if count > 0:
            entries = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            if len(entries) >= count:
                try:
                    request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(entries[-count]))
                except ValueError:
                    pass  # not an address: keep the proxy's, which at least counts all such requests together
        return self.get_response(request)
