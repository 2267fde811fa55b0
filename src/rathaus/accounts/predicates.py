"""Small composable permission predicates (django-rules), testable without a database."""

import rules

from .models import Role


def _membership(user, municipality):
    if not getattr(user, "is_authenticated", False) or municipality is None:
        return None
    cache = user.__dict__.setdefault("_membership_cache", {})
    if municipality.pk not in cache:
        cache[municipality.pk] = user.memberships.filter(municipality=municipality).first()
    return cache[municipality.pk]


@rules.predicate
def is_verified_staff(user, municipality) -> bool:
    """Staff of this municipality who passed the second factor in this session."""
    return _membership(user, municipality) is not None and bool(getattr(user, "is_verified", lambda: False)())


def has_role(role: Role):
    @rules.predicate(name=f"has_role_{role}")
    def predicate(user, municipality) -> bool:
        membership = _membership(user, municipality)
        return membership is not None and membership.has_role(role)

    return predicate


is_case_worker = is_verified_staff & has_role(Role.CASE_WORKER)
is_team_lead = is_verified_staff & has_role(Role.TEAM_LEAD)
is_tenant_admin = is_verified_staff & has_role(Role.TENANT_ADMIN)
