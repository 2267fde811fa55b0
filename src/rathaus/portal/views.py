from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from rathaus.applications.selectors import application_list_for_user
from rathaus.tenants.selectors import municipality_list


def home(request):
    return render(request, "portal/home.html", {"municipalities": municipality_list()})


def help_page(request):
    return render(request, "portal/help.html")


def accessibility(request):
    return render(request, "portal/accessibility.html")


def privacy(request):
    return render(request, "portal/privacy.html")


@login_required
def my_applications(request):
    return render(request, "portal/my_applications.html", {"applications": application_list_for_user(user=request.user)})
