from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from rathaus.applications.selectors import application_list_for_user
from rathaus.core.exports import list_download, local_time
from rathaus.tenants.selectors import municipality_list


def home(request):
    return render(request, "portal/home.html", {"municipalities": municipality_list()})


def help_page(request):
    return render(request, "portal/help.html")


def accessibility(request):
    return render(request, "portal/accessibility.html")


def privacy(request):
    return render(request, "portal/privacy.html", {"ip_days": settings.RATHAUS_AUDIT_IP_DAYS})


@login_required
def my_applications(request):
    applications = application_list_for_user(user=request.user)
    # Only the person's own applications, as the page shows them (status also in words, in her language).
    if download := list_download(request, "meine-antraege", lambda: [
            {"reference": a.reference, "service": a.service.name, "municipality": a.municipality.name,
             "submitted_at": local_time(a.submitted_at), "status": a.status, "status_text": a.get_status_display()}
            for a in applications], "reference"):
        return download
    return render(request, "portal/my_applications.html", {"applications": applications})
