"""Staff authentication for the JSON API: an API token (`Authorization: Bearer rth_…`) or a session
that passed the second factor.

A token belongs to one municipality and carries a set of permission names; it acts for the staff
member who created it and never with more rights than that person has *now* (a token outlives
neither its creator's membership nor a lost role). Only the token's SHA-256 is stored.

Answers are the same as for sessions: no or bad credentials 401; another municipality's token, a
missing permission, or staff of another municipality 404 (they learn nothing about this one).
Token requests need no CSRF token (no cookie is involved); session requests that change something
must pass Django's CSRF check, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from rathaus.accounts.rules import Perm
from rathaus.tenants.selectors import municipality_get

from .models import ApiToken

# Staff tokens are recognisable, so a citizen's access code (also sent as Bearer) is never taken for one.
TOKEN_PREFIX = "rth_"  # noqa: S105 - a prefix, not a secret
DISPLAY_PREFIX_LENGTH = 12
# last_used_at is written at most once a minute per token: a busy client costs no write per request.
TOUCH_INTERVAL_SECONDS = 60


def token_generate() -> str:
    """A new random token (256 bits), shown to its creator once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def token_display_prefix(raw: str) -> str:
    return raw[:DISPLAY_PREFIX_LENGTH]


def grantable_permissions() -> list[str]:
    """Every permission name a token may carry (token management itself is never delegated)."""
    from rathaus.cases.rules import CasePerm

    names = [value for cls in (Perm, CasePerm) for key, value in vars(cls).items()
             if key.isupper() and isinstance(value, str)]
    return [name for name in dict.fromkeys(names) if name != Perm.MANAGE_API_TOKENS]


def token_lookup(raw: str, *, now=None) -> ApiToken | None:
    """The usable token for `raw` (not revoked, not expired, creator still there), else None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = token_hash(raw)
    token = (ApiToken.objects.select_related("municipality", "created_by")
             .filter(token_hash=digest, revoked_at__isnull=True).first())
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = now or timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.created_by is None or not token.created_by.is_active or not token.municipality.is_active:
        return None
    return token


def bearer_token(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


class StaffToken(HttpBearer):
    """`Authorization: Bearer rth_…`: a staff API token created on the page "API-Zugänge"."""

    openapi_scheme = "bearer"
    openapi_bearerFormat = "rth_…"
    openapi_description = "API-Token der Kommune (Seite „API-Zugänge“), für eine Kommune und ausgewählte Berechtigungen."

    def authenticate(self, request, token: str) -> Any:
        if not token.startswith(TOKEN_PREFIX):
            return None  # not ours: perhaps a citizen's access code; the session may still authenticate
        api_token = token_lookup(token)
        if api_token is None:
            raise AuthenticationError()
        request.api_token = api_token
        return api_token


class StaffSession(APIKeyCookie):
    """The session cookie of staff who passed the second factor (CSRF is checked by `staff_access`)."""

    openapi_description = "Sitzung von Mitarbeitenden nach Anmeldung mit zweitem Faktor; Änderungen brauchen das CSRF-Token."

    def __init__(self) -> None:
        from django.conf import settings

        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=False)

    def authenticate(self, request, key: str | None) -> Any:
        user = request.user
        if user.is_authenticated and user.is_verified():
            return user
        return None


STAFF_AUTH = [StaffToken(), StaffSession()]


@dataclass(frozen=True)
class StaffAccess:
    municipality: Any
    user: Any
    token: ApiToken | None = None


def _act_as_creator(token: ApiToken):
    user = token.created_by
    # The token was created in a session that passed the second factor and stands for it.
    user.is_verified = lambda: True
    return user


def staff_access(request, slug: str, perm: str) -> StaffAccess:
    """Who acts, for which municipality, with `perm` — or 401/403/404 as a problem document.

    Call at the start of every staff API operation (declared with `auth=STAFF_AUTH`).
    """
    municipality = municipality_get(slug=slug)
    token = getattr(request, "api_token", None)
    if token is not None:
        user = _token_user(token, municipality, perm)
        if user is None:
            raise Http404("token not valid here")
        return StaffAccess(municipality, user, token)
    user = request.user
    if not (user.is_authenticated and user.is_verified()):
        raise HttpError(401, _("Anmeldung als Mitarbeiterin oder Mitarbeiter mit zweitem Faktor nötig."))
    if not user.has_perm(perm, municipality):
        # Staff of another municipality learn nothing about this one, not even that it checks rights.
        raise Http404("not staff here")
    # The session cookie authenticates, so a cross-site form must not be able to post here.
    if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
        raise HttpError(403, _("Sicherheitsprüfung (CSRF) fehlgeschlagen."))
    return StaffAccess(municipality, user, None)


def access_has(access: StaffAccess, perm: str) -> bool:
    """Whether the caller also holds `perm` (a token only if it carries it and its creator still has it)."""
    if access.token is not None and perm not in access.token.permissions:
        return False
    return access.user.has_perm(perm, access.municipality)


def token_user_for(request, municipality, perm: str):
    """For endpoints that also serve citizens: the acting staff user of a valid staff token, else None.

    A staff token that is invalid, of another municipality or without `perm` gives None as well, so
    such an endpoint answers exactly as it would without it.
    """
    raw = bearer_token(request)
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = token_lookup(raw)
    return None if token is None else _token_user(token, municipality, perm)


def _token_user(token: ApiToken, municipality, perm: str):
    """The token's creator, acting with `perm` in `municipality`; None if the token is not valid there.

    Valid: the token belongs to the municipality, carries `perm`, and its creator still holds it.
    Marks the token as used.
    """
    if token.municipality_id != municipality.pk or perm not in token.permissions:
        return None
    user = _act_as_creator(token)
    if not user.has_perm(perm, municipality):
        return None
    _touch(token)
    return user


def _touch(token: ApiToken) -> None:
    from .services import api_token_touch

    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOUCH_INTERVAL_SECONDS:
        api_token_touch(token=token, now=now)
