from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from rathaus.core import views as core_views

from .api import api

# The Django admin is for instance operators; like every staff page it requires the second factor.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Rathaus – Betrieb"

handler400 = "rathaus.core.views.bad_request"
handler403 = "rathaus.core.views.permission_denied"
handler404 = "rathaus.core.views.not_found"
handler500 = "rathaus.core.views.server_error"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("verwaltung/", admin.site.urls),
    path("konto/", include("rathaus.accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("m/<slug:municipality>/", include("rathaus.catalog.urls")),
    path("m/<slug:municipality>/", include("rathaus.applications.urls")),
    path("m/<slug:municipality>/", include("rathaus.exchanges.urls")),
    path("m/<slug:municipality>/", include("rathaus.processes.urls")),
    path("m/<slug:municipality>/", include("rathaus.cases.urls")),
    path("m/<slug:municipality>/", include("rathaus.integration.urls")),
    path("m/<slug:municipality>/", include("rathaus.accounts.tenant_urls")),
    path("m/<slug:municipality>/", include("rathaus.tenants.urls")),
    path("", include("rathaus.portal.urls")),
]
