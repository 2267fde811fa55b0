from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .problems import ProblemResponse


@never_cache
def healthz(request):
    """Liveness plus a database round trip, so a load balancer notices a dead database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return JsonResponse({"status": "error"}, status=503)


def ratelimited(request, exception=None):
    detail = _("Zu viele Anfragen in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es erneut.")
    if request.path.startswith("/api/"):
        return ProblemResponse(429, "Too Many Requests", detail, type_="rate-limited")
    return render(request, "core/error.html", {"title": _("Zu viele Anfragen"), "detail": detail}, status=429)


def csrf_failure(request, reason=""):
    detail = _("Das Formular ist abgelaufen oder wurde nicht von dieser Seite gesendet. Bitte laden Sie die Seite neu und senden Sie es erneut.")
    return render(request, "core/error.html", {"title": _("Sicherheitsprüfung fehlgeschlagen"), "detail": detail}, status=403)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return ProblemResponse(404, "Not Found", _("Nicht gefunden."), type_="not-found")
    return render(request, "core/error.html", {"title": _("Seite nicht gefunden"), "detail": _("Diese Seite gibt es nicht (mehr). Prüfen Sie die Adresse oder beginnen Sie auf der Startseite.")}, status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return ProblemResponse(500, "Internal Server Error", type_="server-error")
    return HttpResponse(_("Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut."), status=500, content_type="text/plain; charset=utf-8")


def permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return ProblemResponse(403, "Forbidden", _("Keine Berechtigung."), type_="forbidden")
    return render(request, "core/error.html", {"title": _("Keine Berechtigung"), "detail": _("Für diese Seite fehlt Ihnen die Berechtigung.")}, status=403)


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return ProblemResponse(400, "Bad Request", _("Die Anfrage ist ungültig."), type_="bad-request")
    return render(request, "core/error.html", {"title": _("Ungültige Anfrage"), "detail": _("Die Anfrage konnte nicht verarbeitet werden.")}, status=400)
