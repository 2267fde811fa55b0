"""Staff: task inbox (mine, team, overdue), task detail with its form, process diagram data, a case's
task list and process timeline as CSV/JSON, model upload. Citizens: their decision documents."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit

from rathaus.accounts import selectors as account_selectors
from rathaus.accounts.models import User
from rathaus.accounts.rules import Perm
from rathaus.applications.selectors import application_get, application_row_get
from rathaus.applications.services import access_token_matches
from rathaus.cases.rules import mark_openable
from rathaus.cases.selectors import case_file
from rathaus.cases.services import CaseFileError
from rathaus.cases.uploads import UploadRefused, max_bytes_default
from rathaus.catalog.models import Service
from rathaus.catalog.selectors import own_remedies, service_choices
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view, tenant_view
from rathaus.core.exports import list_download, list_export, local_time
from rathaus.core.language import in_english, localized
from rathaus.core.pagination import paginate_by_keys
from rathaus.core.params import parse_int
from rathaus.forms.rendering import error_summary, messages_by_name, render_step
from rathaus_domain.forms.coerce import step_data_from_post
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.processes.checks import ERROR, Problem
from rathaus_domain.processes.engine import MessageNotExpected, ProcessError
from rathaus_domain.processes.xmlutil import MAX_XML_BYTES

from . import selectors, services
from .models import DefinitionState
from .steps.contrib.standard import model_asks_for_payment
from .steps.registry import step_catalogue
from .task_forms import localized_form

PAGE_SIZE = 50
TITLES = {"mine": gettext_lazy("Meine Aufgaben"), "team": gettext_lazy("Aufgaben im Team"),
          "overdue": gettext_lazy("Überfällige Aufgaben")}
MAX_MODEL_FILES = 10  # one BPMN file and its decision tables; more is a mistake in the choice of files
# The list a task was opened from (``?liste=team``), so that its page leads back there.
LISTS = {"meine": "mine", "team": "team", "ueberfaellig": "overdue"}
LIST_PARAMS = {view: param for param, view in LISTS.items()}
BACK_LABELS = {"mine": gettext_lazy("Zurück zu meinen Aufgaben"), "team": gettext_lazy("Zurück zu den Aufgaben im Team"),
               "overdue": gettext_lazy("Zurück zu den überfälligen Aufgaben")}


@staff_view(Perm.WORK_TASKS)
def task_inbox(request, view: str):
    params = request.GET
    service_id = params.get("leistung", "")
    qs = selectors.task_list(municipality=request.municipality, user=request.user, view=view,
                             service_id=parse_int(service_id), query=params.get("q", "")[:50])
    if download := list_download(request, f"aufgaben-{view}-{request.municipality.slug}", lambda: _rows(qs), "task"):
        return download
    page = paginate_by_keys(qs, PAGE_SIZE, params.get("seite"))
    query = params.copy()
    query.pop("seite", None)
    # Data protection requests are tasks of the team too (answer due within a month, Art. 12(3) GDPR).
    data_requests = []
    if view != "mine" and request.user.has_perm(Perm.VIEW_DATA_REQUESTS, request.municipality):
        data_requests = list(account_selectors.data_request_list(
            municipality=request.municipality, state="" if view == "overdue" else "open", overdue=view == "overdue")[:20])
    return render(request, "processes/inbox.html", {
        "page": page, "view": view, "title": TITLES[view], "services": service_choices(municipality=request.municipality),
        "params": params, "query": query.urlencode(), "now": timezone.now(), "data_requests": data_requests,
        "today": timezone.localdate(), "list_param": LIST_PARAMS[view]})


def _rows(qs) -> list[dict]:
    return [{"task": t.pk, "name": t.name, "reference": t.application.reference, "service": t.application.service.name,
             "assignee": t.assignee.get_username() if t.assignee else "", "role": t.role,
             "due_at": local_time(t.due_at), "created_at": local_time(t.created_at)}
            for t in qs.iterator(chunk_size=2000)]


class _NoAssignee(Exception):
    """Handing a task on without choosing to whom."""


@staff_view(Perm.WORK_TASKS)
def task_detail(request, pk: int):
    task = selectors.task_get(municipality=request.municipality, pk=pk)
    spec = FormSpec.from_schema(localized_form(task.form_schema))
    step = spec.steps[0]
    data: dict = {}
    errors: dict[str, list[str]] = {}
    assignee_error = ""
    status = 200
    came_from = LISTS.get(request.GET.get("liste", ""), "mine")
    here = reverse("processes:task_detail", kwargs={"municipality": request.municipality.slug, "pk": task.pk})
    if came_from != "mine":
        here += f"?liste={LIST_PARAMS[came_from]}"
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "claim":
                services.task_claim(task=task, user=request.user)
                messages.success(request, _("Sie haben die Aufgabe übernommen."))
            elif action == "return":
                services.task_return(task=task, user=request.user)
                messages.success(request, _("Die Aufgabe ist zurück im Team."))
            elif action in ("assign", "delegate"):
                assignee_pk = _posted_int(request, "assignee")
                if assignee_pk is None:
                    raise _NoAssignee
                assignee = get_object_or_404(User, pk=assignee_pk, memberships__municipality=request.municipality)
                use = services.task_assign if action == "assign" else services.task_delegate
                use(task=task, assignee=assignee, user=request.user)
                messages.success(request, _("Die Aufgabe ist jetzt bei %(name)s.") % {"name": assignee})
            elif action == "complete":
                data = {step.key: step_data_from_post(spec, step.key, dict(request.POST.lists()))}
                services.task_complete(task=task, user=request.user, data=data)
                messages.success(request, _("Aufgabe erledigt."))
                return redirect(f"processes:tasks_{came_from}", municipality=request.municipality.slug)
            else:
                raise Http404("unknown action")
            return redirect(here)
        except _NoAssignee:
            assignee_error, status = _("Bitte wählen Sie aus, an wen die Aufgabe gehen soll."), 422
        except services.TaskInvalid as exc:
            errors, status = messages_by_name(exc.errors), 422
        except ProcessError as exc:
            messages.error(request, _("Das Verfahren konnte nicht fortgesetzt werden: %(e)s") % {"e": localized(exc)})
            return redirect(here)
        except services.TaskNotAllowed as exc:
            messages.error(request, exc.message)
            return redirect(here)
    application = task.application
    return render(request, "processes/task_detail.html", {
        "task": task, "application": application, "step": step, "nodes": render_step(step, data, errors),
        "errors": error_summary(step, errors),
        # Whom she may hand the task on to: not herself (that is "Übernehmen"), and nobody chosen for her.
        "staff": [u for u in selectors.staff_members(municipality=request.municipality) if u.pk != request.user.pk],
        "assignee_error": assignee_error, "here": here, "back_url": reverse(f"processes:tasks_{came_from}", kwargs={
            "municipality": request.municipality.slug}), "back_label": BACK_LABELS[came_from],
        "may": services.task_rights(task=task, user=request.user),
        "timeline": selectors.case_timeline(municipality=request.municipality, application=application),
        "documents": mark_openable(case_file(municipality=request.municipality, application=application), request.user,
                                   request.municipality),
        "now": timezone.now()}, status=status)


@staff_view(Perm.HANDLE_APPLICATION)
@require_GET
def diagram_data(request, reference: str):
    """The BPMN XML and the highlighted elements for bpmn-js (loaded by static JS; no inline script)."""
    application = application_get(municipality=request.municipality, reference=reference)
    instance = selectors.instance_for(municipality=request.municipality, application=application)
    if instance is None:
        raise Http404("no process")
    bpmn = next((f["content"] for f in instance.definition.files if f["kind"] == "bpmn"), "")
    return JsonResponse({"xml": bpmn, "completed": instance.completed_elements, "current": instance.current_elements,
                         "status": instance.status})


@staff_view(Perm.HANDLE_APPLICATION)
@require_GET
def case_tasks_export(request, reference: str, fmt: str):
    """The case's tasks as the case page lists them, as CSV or JSON (open, done and cancelled ones)."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    rows = [{"task": t.pk, "name": t.name, "state": t.state, "assignee": _username(t.assignee), "role": t.role,
             "due_at": local_time(t.due_at), "created_at": local_time(t.created_at),
             "completed_at": local_time(t.completed_at), "completed_by": _username(t.completed_by)}
            for t in selectors.case_tasks(municipality=request.municipality, application=application)]
    return list_export(rows, fmt, f"aufgaben-{application.reference}", "task")


@staff_view(Perm.HANDLE_APPLICATION)
@require_GET
def case_timeline_export(request, reference: str, fmt: str):
    """The process timeline of the case page as CSV or JSON; its texts as recorded (German), like on the page."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    rows = [{"event": e.pk, "time": local_time(e.created_at), "automatic": e.automatic, "actor": _username(e.actor),
             "kind": e.kind, "element": e.element_id, "text": e.text}
            for e in selectors.case_timeline(municipality=request.municipality, application=application)]
    return list_export(rows, fmt, f"verlauf-{application.reference}", "event")


def _username(user) -> str:
    return user.get_username() if user else ""


@staff_view(Perm.MANAGE_PROCESSES)
def definitions(request):
    """Upload a model (checked like `rathaus check-process`), publish or retire versions."""
    problems: list[dict] = []
    files_error = ""
    status = 200
    if download := list_download(request, f"prozessmodelle-{request.municipality.slug}", lambda: [
            {"service": d.service.name, "name": d.name, "process_id": d.process_id, "version": d.version,
             "state": d.state, "digest": d.digest, "created_at": local_time(d.created_at),
             "published_at": local_time(d.published_at)}
            for d in selectors.definition_list(municipality=request.municipality)], "version"):
        return download
    if request.method == "POST":
        if request.POST.get("action") == "upload":
            service = get_object_or_404(Service.objects.for_municipality(request.municipality),
                                        pk=_posted_int(request, "service") or 0)
            uploads = request.FILES.getlist("files")
            # Refused by their number and size before anything is read into memory.
            refused = [services.problem_dict(Problem(f.name, "", ERROR, f"Die Datei ist größer als {MAX_XML_BYTES // 2**20} MB.",
                                                     f"the file is larger than {MAX_XML_BYTES // 2**20} MB", "too-large"))
                       for f in uploads if f.size > MAX_XML_BYTES]
            if len(uploads) > MAX_MODEL_FILES:
                refused.insert(0, services.problem_dict(Problem(
                    "", "", ERROR, f"Ein Modell besteht aus höchstens {MAX_MODEL_FILES} Dateien; gewählt waren {len(uploads)}.",
                    f"a model has at most {MAX_MODEL_FILES} files; {len(uploads)} were chosen", "too-many-files")))
            if not uploads:
                files_error, status = _("Bitte wählen Sie mindestens eine BPMN-Datei."), 422
            elif refused:
                problems, status = refused, 422
            else:
                files = [(f.name, f.read()) for f in uploads]
                try:
                    definition = services.process_definition_create(
                        municipality=request.municipality, service=service, files=files,
                        publish=request.POST.get("publish") == "1", actor=request.user)
                    messages.success(request, _("Version %(v)s gespeichert.") % {"v": definition.version})
                    return redirect("processes:definitions", municipality=request.municipality.slug)
                except services.ProcessUploadInvalid as exc:
                    problems, status = exc.problems, 422
        elif request.POST.get("action") in ("publish", "retire"):
            definition = get_object_or_404(selectors.definition_list(municipality=request.municipality),
                                           pk=_posted_int(request, "definition") or 0)
            if request.POST["action"] == "publish":
                services.process_definition_publish(definition=definition, actor=request.user)
                messages.success(request, _("Version %(v)s ist veröffentlicht.") % {"v": definition.version})
            else:
                try:
                    services.process_definition_retire(definition=definition, actor=request.user)
                    messages.success(request, _("Version %(v)s ist außer Betrieb.") % {"v": definition.version})
                except services.VersionStateInvalid:
                    messages.error(request, _("Version %(v)s ist nicht veröffentlicht und kann daher nicht außer Betrieb "
                                              "genommen werden.") % {"v": definition.version})
            return redirect("processes:definitions", municipality=request.municipality.slug)
    return render(request, "processes/definitions.html", {
        "definitions": selectors.definition_list(municipality=request.municipality),
        "services": service_choices(municipality=request.municipality), "problems": problems, "files_error": files_error,
        # A refused upload keeps what was chosen (a browser keeps no file): sent again, it goes to the same service.
        "chosen_service": request.POST.get("service", ""), "publish_chosen": request.POST.get("publish") == "1",
        "states": DefinitionState, "steps": _step_rows(),
        **_models_missing_town_details(request.municipality)}, status=status)


def _models_missing_town_details(municipality) -> dict[str, list[str]]:
    """Services whose model in force needs a detail of the town it has not given.

    `unpayable`: the model asks citizens to transfer money, but the town names no account to pay to.
    `unaddressed`: the model writes decision letters, but the town has no address for their sender
    and remedy instruction. `no_court`: the model writes decision letters whose remedy (the
    service's own, else the town's) is an action at a court the town has not named with its
    address. Such models still run (their letters leave the detail out), so the upload does not
    refuse them; the staff see here what is missing. Towns with every detail they need read no
    model for it.
    """
    no_account, no_address = not municipality.has_bank_account, not municipality.address.strip()

    def lacks_court(remedy: str) -> bool:
        return any(name.startswith("court_") for name in municipality.missing_remedy_details(remedy))

    # Without a court, only letters whose remedy is an action matter: the town's, or a service's own.
    no_court = (not (municipality.court_name.strip() and municipality.court_address.strip())
                and (lacks_court(municipality.remedy) or any(map(lacks_court, own_remedies(municipality=municipality)))))
    if not (no_account or no_address or no_court):
        return {"unpayable": [], "unaddressed": [], "no_court": []}
    definitions = selectors.published_definitions(municipality=municipality)
    return {"unpayable": [d.service.name for d in definitions
                          if no_account and model_asks_for_payment(d.digest, d.bpmn_files)],
            "unaddressed": [d.service.name for d in definitions
                            if no_address and selectors.model_issues_letters(d.digest, d.bpmn_files)],
            "no_court": [d.service.name for d in definitions
                         if no_court and lacks_court(d.service.remedy or municipality.remedy)
                         and selectors.model_issues_letters(d.digest, d.bpmn_files)]}


def _step_rows() -> list[dict]:
    """The step catalogue in the page's language (a plugin without English texts shows its German ones)."""
    english = in_english()

    def text(item) -> str:
        return (item.description_en or item.description) if english else item.description

    return [{"name": step.name, "description": text(step),
             "params": [{"name": p.name, "description": text(p), "default": p.default} for p in step.params],
             "results": [{"name": r.name, "description": text(r)} for r in step.results]}
            for step in step_catalogue()]


# ---------------------------------------------------------------- events from outside the process

def _upload_rate(group, request) -> str:
    from django.conf import settings

    return settings.RATELIMIT_SUBMISSIONS


def _posted_int(request, name: str) -> int | None:
    return parse_int(request.POST.get(name, ""))


def _handle_upload(request, application, back):
    upload = request.FILES.get("document")
    if upload is None:
        messages.error(request, _("Bitte wählen Sie eine Datei aus."))
        return back
    try:
        # One byte over the limit is enough to refuse the file without reading all of it.
        services.document_upload_later(application=application, filename=upload.name,
                                       raw=upload.read(max_bytes_default() + 1), declared_type=upload.content_type,
                                       request_id=_posted_int(request, "request"), request_item=_posted_int(request, "item"),
                                       actor=request.user if request.user.is_authenticated else None, ip=client_ip(request))
    except UploadRefused as exc:
        messages.error(request, _("Die Datei wurde nicht angenommen: %(e)s") % {"e": localized(exc)})
    except CaseFileError as exc:
        messages.error(request, localized(exc))
    except MessageNotExpected:
        messages.error(request, _("Zu diesem Antrag werden derzeit keine Unterlagen erwartet."))
    except ProcessError:
        messages.error(request, _("Ihre Datei konnte gerade nicht verarbeitet werden. Bitte versuchen Sie es später noch einmal."))
    else:
        messages.success(request, _("Vielen Dank, Ihr Nachweis ist eingegangen. Wir bearbeiten Ihren Antrag weiter."))
    return back


@tenant_view
@require_POST
@ratelimit(key="ip", rate=_upload_rate, method="POST", block=True)
def citizen_upload(request, reference: str, token: str):
    """The citizen hands in a document her case waits for (status page with access token)."""
    application = application_get(municipality=request.municipality, reference=reference)
    if not access_token_matches(application, token):
        raise Http404("wrong token")
    return _handle_upload(request, application, redirect("applications:status", municipality=request.municipality.slug,
                                                         reference=reference, token=token))


@tenant_view
@require_POST
@ratelimit(key="ip", rate=_upload_rate, method="POST", block=True)
def my_upload(request, reference: str):
    """The same for a signed-in citizen on "Meine Anträge"."""
    application = application_get(municipality=request.municipality, reference=reference)
    if not request.user.is_authenticated or application.applicant_id != request.user.pk:
        raise Http404("not yours")
    return _handle_upload(request, application, redirect("applications:my_status", municipality=request.municipality.slug,
                                                         reference=reference))


@staff_view(Perm.HANDLE_APPLICATION)
def case_message(request, reference: str):
    """Staff record an event the process waits for (payment booked, proof by post, answer of a back-office system).

    GET shows what will happen and asks for confirmation; POST records it.
    """
    application = application_get(municipality=request.municipality, reference=reference)
    instance = selectors.instance_for(municipality=request.municipality, application=application)
    waiting = instance.waiting_messages if instance else []
    back = redirect("applications:staff_detail", municipality=request.municipality.slug, reference=reference)
    name = (request.POST if request.method == "POST" else request.GET).get("message", "")[:100]
    # Sent without a choice (the process waits for more than one event): ask again on the form.
    unchosen = request.method == "POST" and not name and bool(waiting)
    if request.method != "POST" or unchosen:
        return render(request, "processes/case_action.html", {
            "application": application, "action": "message", "waiting": [(n, services.message_label(n)) for n in waiting],
            "selected": name, "error": _("Bitte wählen Sie aus, was eingegangen ist.") if unchosen else ""},
            status=422 if unchosen else 200)
    try:
        services.message_deliver(application=application, name=name, actor=request.user)
    except MessageNotExpected:
        messages.error(request, _("Das Verfahren wartet nicht auf dieses Ereignis."))
    except ProcessError as exc:  # a step after it failed: nothing is recorded, the process still waits for it
        messages.error(request, _("Das Verfahren konnte nicht fortgesetzt werden: %(e)s") % {"e": localized(exc)})
    else:
        messages.success(request, _("Eingang erfasst: %(m)s") % {"m": services.message_label(name)})
    return back


@staff_view(Perm.HANDLE_APPLICATION)
def case_retry(request, reference: str):
    """Retry a failed process from its last saved state (GET: explain and confirm; POST: retry)."""
    application = application_get(municipality=request.municipality, reference=reference)
    instance = selectors.instance_for(municipality=request.municipality, application=application)
    if instance is None:
        raise Http404("no process")
    if request.method != "POST":
        return render(request, "processes/case_action.html", {"application": application, "action": "retry",
                                                              "instance": instance})
    try:
        services.process_retry(instance=instance, actor=request.user)
    except services.TaskNotAllowed as exc:
        messages.error(request, exc.message)
    else:
        instance.refresh_from_db()
        if instance.status == "failed":
            messages.error(request, _("Der erneute Versuch ist fehlgeschlagen: %(e)s") % {"e": instance.error})
        else:
            messages.success(request, _("Das Verfahren läuft wieder."))
    return redirect("applications:staff_detail", municipality=request.municipality.slug, reference=reference)
