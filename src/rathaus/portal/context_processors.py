def portal(request):
    """The current municipality (set by tenant views) and whether the user is staff there."""
    municipality = getattr(request, "municipality", None)
    is_staff_here = False
    user = getattr(request, "user", None)
    if municipality is not None and user is not None and user.is_authenticated:
        is_staff_here = user.memberships.filter(municipality=municipality).exists()
    return {"municipality": municipality, "is_staff_here": is_staff_here}
