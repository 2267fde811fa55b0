from rathaus.accounts.models import Role


def portal(request):
    """The current municipality (set by tenant views) and whether the user is staff there."""
    municipality = getattr(request, "municipality", None)
    role = None
    user = getattr(request, "user", None)
    if municipality is not None and user is not None and user.is_authenticated:
        role = user.memberships.filter(municipality=municipality).values_list("role", flat=True).first()
    return {"municipality": municipality, "is_staff_here": role is not None, "is_admin_here": role == Role.TENANT_ADMIN}
