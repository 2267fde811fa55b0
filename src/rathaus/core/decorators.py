"""View decorators: the municipality comes from the URL, permissions from small predicates."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from rathaus.tenants.selectors import municipality_get


def tenant_view(view):
    """Resolve `municipality` from the URL slug (404 if unknown) and put it on the request."""

    @wraps(view)
    def wrapper(request, municipality: str, *args, **kwargs):
        request.municipality = municipality_get(slug=municipality)
        return view(request, *args, **kwargs)

    return wrapper


def staff_view(perm: str):
    """Staff-only view of the URL's municipality.

    Anonymous users go to the login; staff of another municipality (or citizens) get 404 so the
    existence of another tenant's pages is not revealed; staff without the second factor in this
    session are sent to it.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request, municipality: str, *args, **kwargs):
            request.municipality = municipality_get(slug=municipality)
            user = request.user
            if not user.is_authenticated:
                return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")
            if not user.memberships.filter(municipality=request.municipality).exists():
                raise Http404("not staff of this municipality")
            if not user.is_verified():
                return redirect(f"{reverse('accounts:otp')}?{urlencode({'next': request.get_full_path()})}")
            if not user.has_perm(perm, request.municipality):
                raise Http404("missing permission")
            return view(request, *args, **kwargs)

        wrapper.staff_perm = perm  # type: ignore[attr-defined]
        return wrapper

    return decorate
