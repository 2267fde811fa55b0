"""The JSON API: one NinjaAPI, routers per app, RFC 9457 problem documents for every error."""

from functools import wraps

from django.http import Http404, HttpResponseNotAllowed
from django.urls import URLPattern
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from rathaus.core.problems import ProblemError, ProblemResponse, problems_in_openapi


class RathausAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        return problems_in_openapi(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))

    def _get_urls(self):
        # django-ninja answers a method no operation of a path takes with a plain-text 405 of its own,
        # past the exception handlers below; every address of the API gets the problem document instead.
        patterns = super()._get_urls()
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _method_not_allowed_as_problem(pattern.callback)
        return patterns


def _method_not_allowed_as_problem(view):
    @wraps(view)  # keeps csrf_exempt: the operations check CSRF themselves (integration.auth)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = ", ".join(sorted(method.strip() for method in response["Allow"].split(",")))
        problem = ProblemResponse(405, "Method Not Allowed", _("Diese Adresse nimmt nur %(methods)s an.") % {
            "methods": allowed}, type_="method-not-allowed")
        problem["Allow"] = allowed
        return problem

    return wrapper


api = RathausAPI(
    title="Rathaus API",
    version="1.0.0",
    description="Öffentliche Schnittstelle von Rathaus: Kommunen, Leistungskatalog, Anträge. "
    "Für Fachverfahren (mit API-Token der Kommune): Vorgänge, Dokumente, Ereignisse, Aufgaben und "
    "FIT-Connect-Einreichungen. Fehler sind Problem-Dokumente nach RFC 9457.",
    urls_namespace="api",
)


@api.exception_handler(ProblemError)
def _problem(request, exc: ProblemError):
    return exc.response()


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    errors = [
        {"pointer": "/" + "/".join(str(p) for p in e.get("loc", [])[1:]), "detail": e.get("msg", ""), "code": e.get("type", "")}
        for e in exc.errors
    ]
    return ProblemResponse(422, "Unprocessable Content", _("Die Anfrage ist unvollständig oder falsch aufgebaut."),
                           type_="invalid-request", errors=errors)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return ProblemResponse(404, "Not Found", _("Nicht gefunden."), type_="not-found")


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return ProblemResponse(401, "Unauthorized", _("Zugangsdaten fehlen oder sind ungültig."), type_="unauthorized")


# django-ninja's own answer to a body it cannot parse (ninja/params/models.py), in English only.
NINJA_UNPARSABLE_BODY = "Cannot parse request body"


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400 and str(exc).startswith(NINJA_UNPARSABLE_BODY):
        return ProblemResponse(400, "Bad Request", _("Der Inhalt der Anfrage ist kein gültiges JSON."), type_="invalid-json")
    return ProblemResponse(exc.status_code, str(exc) or "Error", str(exc), type_="http-error")


def _register_routers() -> None:
    from rathaus.applications.api import router as applications_router
    from rathaus.catalog.api import router as catalog_router
    from rathaus.integration.api import router as integration_router
    from rathaus.processes.api import router as processes_router
    from rathaus.tenants.api import router as tenants_router

    api.add_router("/", tenants_router)
    api.add_router("/", catalog_router)
    api.add_router("/", applications_router)
    api.add_router("/", processes_router)
    api.add_router("/", integration_router)


_register_routers()
