"""Citizen-facing intake (multi-step form, review, receipt, status) and the staff inbox."""

from __future__ import annotations

import copy
import hashlib
import json

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from rathaus.accounts import selectors as account_selectors
from rathaus.accounts import services as account_services
from rathaus.accounts.rules import Perm
from rathaus.cases.files import read_bytes
from rathaus.cases.selectors import decisions_to_post_count, document_requests
from rathaus.cases.services import receipt_document_ensure
from rathaus.cases.uploads import UploadRefused, check_upload
from rathaus.catalog.selectors import service_choices, service_get, service_list
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view, tenant_view
from rathaus.core.exports import list_export, local_time
from rathaus.core.language import localized
from rathaus.core.pagination import paginate_by_keys
from rathaus.core.params import parse_int
from rathaus.forms.rendering import error_summary, messages_by_name, name_matches, render_step
from rathaus.processes.selectors import instance_for
from rathaus_domain.forms.coerce import drop_hidden, is_shown, step_data_from_post, with_file
from rathaus_domain.forms.model import WILDCARD, FormSpec, Group, format_bytes, value_at
from rathaus_domain.forms.prefill import apply_prefill, prefilled_names, profile_changes
from rathaus_domain.forms.validation import validate

from . import selectors, services
from .forms import SELF, RepresentationForm, StaffNoteForm, StatusChangeForm, StatusLookupForm
from .models import Channel, MandateKind, Representation, Status
from .pdf import receipt_pdf


def _submit_rate(group, request) -> str:
    return settings.RATELIMIT_SUBMISSIONS


# ---------------------------------------------------------------- citizen: form flow

@tenant_view
@require_POST
def start(request, service: str):
    service_obj = service_get(municipality=request.municipality, slug=service)
    # Once-only: a logged-in citizen's profile fills the matching fields; anonymous visitors get an empty form.
    profile = account_selectors.prefill_profile(user=request.user)
    data = apply_prefill({}, FormSpec.from_schema(service_obj.form.schema), profile)[0] if profile else None
    draft = services.draft_create(municipality=request.municipality, service=service_obj, user=request.user, data=data)
    return redirect("applications:step", municipality=request.municipality.slug, token=draft.token, index=1)


def _draft_context(request, token: str):
    draft = selectors.draft_get(municipality=request.municipality, token=token)
    spec = FormSpec.from_schema(draft.service.form.schema)
    return draft, spec


def _draft_profile(request, draft) -> dict[str, str]:
    """The profile the draft was filled from, for the person it belongs to (or the staff entering it), else nothing.

    Whoever else holds the link sees the values but not which came from whose profile.
    """
    user = request.user
    if draft.user_id is None or not user.is_authenticated:
        return {}
    if user.pk != draft.user_id and user.pk != draft.assisted_by_id:
        return {}
    return account_selectors.prefill_profile(user=draft.user)


def _change_repeat(spec: FormSpec, data: dict, add: str | None, remove: str | None) -> None:
    """Add or remove an item of a repeatable group (the no-JavaScript way: a submit button).

    The button names the group bound to its place (``hh.0.pets`` for the pets of the first
    household member); names that match no repeatable group of the form are ignored.
    """
    groups: list[Group] = []

    def collect(nodes):
        for node in nodes:
            if isinstance(node, Group):
                if node.repeatable:
                    groups.append(node)
                collect(node.children)

    for step in spec.steps:
        collect(step.children)
    if add and (bound := _bound_group(groups, add)) is not None:
        group, path = bound
        found, items = value_at(data, path)
        items = list(items) if found and isinstance(items, list) else []
        # A list of plain values holds text, not objects: "{}" would end up in the input.
        blank = "" if group.holds_values else {}
        items = items or [copy.copy(blank) for _ in range(max(group.min_items, 1))]
        items.append(copy.copy(blank))
        _put(data, path, items)
    if remove:
        name, _sep, index = remove.rpartition(".")
        position = parse_int(index, max_digits=4)
        if (bound := _bound_group(groups, name)) is not None and position is not None:
            found, items = value_at(data, bound[1])
            if found and isinstance(items, list) and position < len(items):
                items.pop(position)


def _bound_group(groups: list[Group], name: str) -> tuple[Group, tuple] | None:
    """The repeatable group ``name`` stands for, with its path bound to the entries it names."""
    parts = name.split(".")
    for group in groups:
        if len(group.path) == len(parts) and name_matches(group.name, name):
            return group, tuple(parse_int(part, max_digits=4) if key == WILDCARD else key
                                for key, part in zip(group.path, parts, strict=True))
    return None


def _put(data: dict, path, value) -> None:
    """Set ``value`` at ``path``, creating the objects and lists on the way.

    A missing list entry is created only where it would come next (an entry the citizen left
    empty is not stored); a path that does not fit the data is left alone.
    """
    current: object = data
    for key, following in zip(path, path[1:], strict=False):
        empty = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            if not isinstance(current, list) or key > len(current):
                return
            if key == len(current):
                current.append(empty)
            current = current[key]
        elif isinstance(current, dict):
            current = current.setdefault(key, empty)
        else:
            return
    if isinstance(current, dict):
        current[path[-1]] = value


def _read_files(request, spec: FormSpec, step, data: dict) -> tuple[dict, dict[str, list[str]]]:
    """Add uploaded files to the data; refuse what is too large or not of an allowed type."""
    problems: dict[str, list[str]] = {}
    for field in step.fields():
        if field.widget != "file":
            continue
        for name, upload in request.FILES.items():
            # Fields inside repeatable groups arrive bound (docs.0.scan); match by shape.
            if not name_matches(field.name, name):
                continue
            path = tuple(p if (n := parse_int(p, max_digits=4)) is None else n for p in name.split("."))
            if not is_shown(spec, path, data):
                continue  # a file for a field the citizen's answers hide is not wanted (nor checked)
            max_bytes = field.constraints.get("max_bytes") or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            accept = field.constraints.get("accept") or []
            if upload.size > max_bytes:
                problems.setdefault(name, []).append(_("Die Datei ist zu groß. Erlaubt sind höchstens %(size)s.")
                                                     % {"size": format_bytes(max_bytes)})
                continue
            raw = upload.read()
            # The case file's checks (type by magic bytes, archives, file name, malware scanner) run here
            # already, so the citizen learns of a refused file at the field, and again at submission.
            try:
                checked = check_upload(raw=raw, filename=upload.name, declared_type=upload.content_type,
                                       field_accept=accept, max_bytes=max_bytes)
            except UploadRefused as exc:
                problems.setdefault(name, []).append(localized(exc))
                continue
            try:
                data = with_file(data, path, upload.name, checked.content_type, raw)
            except IndexError:  # a list entry the form does not have (only a crafted request sends that)
                problems.setdefault(name, []).append(_("Die Datei gehört zu keinem Eintrag dieser Liste."))
    return data, problems


@tenant_view
@ratelimit(key="ip", rate=_submit_rate, method="POST", block=True)
def step(request, token: str, index: int):
    draft, spec = _draft_context(request, token)
    if not 1 <= index <= len(spec.steps):
        raise Http404
    current = spec.steps[index - 1]
    data = copy.deepcopy(draft.data)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        # Files already uploaded stay unless a new file replaces them (in a list: in the entry of the same number).
        old = data.get(current.key, {})
        kept = [path for field in current.fields() if field.widget == "file"
                for path in _paths_in(old, field.path[1:])]
        file_names = [*request.FILES, *(FormSpec.html_name((current.key, *path)) for path in kept)]
        step_data = step_data_from_post(spec, current.key, dict(request.POST.lists()), file_names)
        for path in kept:
            _keep_file(old, step_data, path)
        data[current.key] = step_data
        data, errors = _read_files(request, spec, current, data)
        # A file kept from an earlier attempt may belong to a field the new answers hide.
        drop_hidden(spec, current.key, data[current.key])
        if request.POST.get("_add") or request.POST.get("_remove"):
            _change_repeat(spec, data, request.POST.get("_add"), request.POST.get("_remove"))
            services.draft_save(draft=draft, data=data)
            return redirect(request.path + "#main")
        services.draft_save(draft=draft, data=data)
        if "_save" in request.POST:
            return render(request, "applications/saved.html", {"draft": draft, "service": draft.service,
                          "resume_url": request.build_absolute_uri(request.path)})
        if "_back" in request.POST:
            return redirect("applications:step", municipality=request.municipality.slug, token=token, index=max(1, index - 1))
        all_errors = messages_by_name(validate(spec.schema, _validation_view(data, spec, index),
                                               today=timezone.localdate()), current.key)
        for name, msgs in all_errors.items():
            errors.setdefault(name, []).extend(msgs)
        if not errors:
            if index < len(spec.steps):
                return redirect("applications:step", municipality=request.municipality.slug, token=token, index=index + 1)
            return redirect("applications:review", municipality=request.municipality.slug, token=token)
    profile = _draft_profile(request, draft)
    prefilled = prefilled_names(data, spec, profile) if profile else set()
    step_prefilled = {name for name in prefilled if name.split(".", 1)[0] == current.key}
    return render(request, "applications/step.html", {
        "draft": draft, "service": draft.service, "spec": spec, "step": current, "index": index,
        "steps": spec.steps, "total": len(spec.steps), "nodes": render_step(current, data, errors, step_prefilled),
        "errors": error_summary(current, errors), "has_files": any(f.widget == "file" for f in current.fields()),
        "prefilled_count": len(step_prefilled),
    }, status=422 if errors else 200)


def _paths_in(data, path: tuple) -> list[tuple]:
    """The concrete paths (entry numbers for "*") at which `data` holds a value for field path `path`."""
    if not path:
        return [()]
    head, rest = path[0], path[1:]
    if head == "*":
        items = data if isinstance(data, list) else []
        return [(index, *tail) for index, item in enumerate(items) for tail in _paths_in(item, rest)]
    if isinstance(data, dict) and head in data:
        return [(head, *tail) for tail in _paths_in(data[head], rest)]
    return []


def _keep_file(old: dict, new: dict, rel_path: tuple) -> None:
    found, value = value_at(old, rel_path)
    present, _v = value_at(new, rel_path)
    if not found or present:
        return
    target = new
    for key in rel_path[:-1]:
        if isinstance(key, int):
            if not isinstance(target, list) or key >= len(target):
                return  # the entry is gone (removed, or left empty)
            target = target[key]
        elif isinstance(target, dict):
            target = target.setdefault(key, {})
        else:
            return
    if isinstance(target, dict):
        target[rel_path[-1]] = value


def _validation_view(data: dict, spec: FormSpec, index: int) -> dict:
    """Later steps are not filled yet: validate them as if their content were right."""
    view = dict(data)
    for later in spec.steps[index:]:
        view.pop(later.key, None)
    return view


# Drafts submitted from this browser (digests of their tokens, newest last), so a resent review POST finds its receipt.
SUBMITTED_DRAFTS = "applications.submitted_drafts"
SUBMITTED_DRAFTS_KEPT = 20


def _draft_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _remember_submitted(request, token: str) -> None:
    submitted = [d for d in request.session.get(SUBMITTED_DRAFTS, []) if d != _draft_digest(token)]
    request.session[SUBMITTED_DRAFTS] = [*submitted, _draft_digest(token)][-SUBMITTED_DRAFTS_KEPT:]


def _submitted_receipt(request, token: str):
    """The receipt of a draft this browser submitted (reload, double click, back), else None.

    Only the session that submitted it is sent on: the receipt's address holds the access token,
    and a draft's link may have been passed on or saved elsewhere.
    """
    if _draft_digest(token) not in request.session.get(SUBMITTED_DRAFTS, []):
        return None
    application = selectors.application_by_idempotency_key(municipality=request.municipality,
                                                           key=services.draft_idempotency_key(token))
    if application is None:
        return None
    return redirect("applications:receipt", municipality=request.municipality.slug,
                    reference=application.reference, token=services.access_token_for(application))


@tenant_view
@ratelimit(key="ip", rate=_submit_rate, method="POST", block=True)
def review(request, token: str):
    try:
        draft, spec = _draft_context(request, token)
    except Http404:
        # The draft is gone once submitted; a resent POST answers as the first one did.
        receipt = _submitted_receipt(request, token)
        if receipt is None:
            raise
        return receipt
    form_data = draft.data
    # A draft saved days ago may hold a date that is too near by now: the review sends her back to it.
    errors = validate(spec.schema, form_data, today=timezone.localdate())
    refused: list[str] = []
    # Unpublished since the draft was started: the page says so before the citizen tries to send it.
    not_offered = not draft.service.is_published
    if request.method == "POST" and not errors:
        try:
            # Asked explicitly, never ticked in advance (§ 41 (2a) VwVfG needs her consent).
            # Only with an account behind the application: the retrieval needs her signed in.
            result = services.draft_submit(draft=draft, ip=client_ip(request),
                                           retrieval_consent=bool(draft.user_id)
                                           and request.POST.get("retrieval_consent") == "1")
        except services.ServiceNotOffered:
            not_offered = True
        except services.ApplicationInvalid as exc:
            # A file the upload checks refuse now (e.g. the malware scanner is down): say which, store nothing.
            refused = [localized(exc_error) for exc_error in exc.errors]
        else:
            _remember_submitted(request, token)
            return redirect("applications:receipt", municipality=request.municipality.slug,
                            reference=result.application.reference, token=result.access_token)
    first_bad = next((i for i, s in enumerate(spec.steps, 1) if any(e.path and e.path[0] == s.key for e in errors)), None)
    return render(request, "applications/review.html", {
        "draft": draft, "service": draft.service, "spec": spec, "summary": spec.summary(form_data),
        "steps": spec.steps, "total": len(spec.steps), "first_bad": first_bad,
        "error_count": len(errors), "representation": services.draft_representation(draft),
        "mandate_labels": dict(MandateKind.choices), "refused": refused, "not_offered": not_offered,
        # Shown again after an error as she left it: her tick is not lost (nor ever set for her).
        "retrieval_consent": request.method == "POST" and request.POST.get("retrieval_consent") == "1",
    }, status=422 if request.method == "POST" and (errors or refused or not_offered) else 200)


@tenant_view
@ratelimit(key="ip", rate=_submit_rate, method="POST", block=True)
def representation(request, token: str):
    """Applying on behalf of someone else (child, ward, company, principal): the mandate and for whom."""
    draft, spec = _draft_context(request, token)
    current = services.draft_representation(draft)
    initial = {"kind": SELF}
    if current is not None:
        initial = {**current.as_json(), "mandate_confirmed": True,
                   "principal_birth_date": current.principal_birth_date.strftime("%d.%m.%Y") if current.principal_birth_date else ""}
    form = RepresentationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = None
        if data["kind"] != SELF:
            chosen = services.RepresentationData(
                kind=data["kind"], principal_name=data["principal_name"], principal_birth_date=data["principal_birth_date"],
                principal_register_number=data["principal_register_number"], principal_address=data["principal_address"])
        services.draft_set_representation(draft=draft, representation=chosen)
        return redirect("applications:review", municipality=request.municipality.slug, token=token)
    return render(request, "applications/representation.html", {
        "draft": draft, "service": draft.service, "form": form, "total": len(spec.steps), "steps": spec.steps,
    }, status=422 if form.errors else 200)


# ---------------------------------------------------------------- citizen: receipt and status

def _application_by_token(request, reference: str, token: str):
    application = selectors.application_get(municipality=request.municipality, reference=reference)
    if not services.access_token_matches(application, token):
        raise Http404
    return application


@tenant_view
def receipt(request, reference: str, token: str):
    application = _application_by_token(request, reference, token)
    return render(request, "applications/receipt.html", _citizen_context(request, application, token))


@tenant_view
def status(request, reference: str, token: str):
    application = _application_by_token(request, reference, token)
    return render(request, "applications/status.html", _citizen_context(request, application, token))


@tenant_view
def receipt_pdf_view(request, reference: str, token: str):
    application = _application_by_token(request, reference, token)
    return _pdf_response(application)


def _pdf_response(application) -> HttpResponse:
    """The receipt from the case file (stored there the first time it is made); rendered only for anonymised cases."""
    version = receipt_document_ensure(application=application)
    response = HttpResponse(read_bytes(version.file) if version is not None else receipt_pdf(application),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="Eingangsbestaetigung-{application.reference}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _citizen_context(request, application, token: str | None) -> dict:
    """The status context, and what the case waits for from her (then no date is promised).

    Its open document requests and its process are read once, for that and for the upload panel.
    A closed case takes no more documents: neither are read then.
    """
    municipality = application.municipality
    expects = application.takes_documents
    requests = document_requests(municipality=municipality, application=application, open_only=True) if expects else []
    instance = instance_for(municipality=municipality, application=application) if expects else None
    context = _status_context(request, application, token)
    context.update(open_requests=requests, process_instance=instance, awaited=selectors.application_awaited(
        municipality=municipality, application=application, requests=requests, instance=instance))
    return context


def _status_context(request, application, token: str | None) -> dict:
    spec = FormSpec.from_schema(application.form.schema)
    status_url = (request.build_absolute_uri(reverse("applications:status", kwargs={
        "municipality": request.municipality.slug, "reference": application.reference, "token": token})) if token else "")
    context = {"application": application, "service": application.service, "token": token, "status_url": status_url,
               "summary": spec.summary(application.data), "history": list(application.history.all()),
               "representation": Representation.objects.filter(application=application).first(),
               "mandate_labels": dict(MandateKind.choices)}
    user = request.user
    if user.is_authenticated and application.applicant_id == user.pk and application.anonymised_at is None:
        # After submitting, she may take what she entered into her profile; never without asking.
        profile = account_selectors.prefill_profile(user=user)
        changes = profile_changes(application.data, spec, profile)
        changes.pop("email", None)
        context["profile_offer"] = [(key, profile.get(key, ""), value) for key, value in changes.items()]
    return context


@tenant_view
def status_lookup(request):
    form = StatusLookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reference, token = form.cleaned_data["reference"], form.cleaned_data["token"]
        application = selectors.application_inbox(municipality=request.municipality).filter(reference=reference).first()
        if application is not None and services.access_token_matches(application, token):
            return redirect("applications:status", municipality=request.municipality.slug, reference=reference, token=token)
        form.add_error(None, _("Vorgangsnummer oder Zugangscode stimmen nicht. Beide stehen in Ihrer Eingangsbestätigung."))
    return render(request, "applications/status_lookup.html", {"form": form})


@tenant_view
def my_status(request, reference: str):
    if not request.user.is_authenticated:
        return redirect(f"{reverse('accounts:login')}?next={request.path}")
    application = selectors.application_get(municipality=request.municipality, reference=reference)
    if application.applicant_id != request.user.pk:
        raise Http404
    if request.GET.get("format") == "pdf":
        return _pdf_response(application)
    context = _citizen_context(request, application, None)
    context["own"] = True
    return render(request, "applications/status.html", context)


# ---------------------------------------------------------------- staff

INBOX_PAGE_SIZE = 25


@staff_view(Perm.VIEW_INBOX)
def inbox(request):
    params = request.GET
    service_id = params.get("leistung", "")
    qs = selectors.application_inbox(
        municipality=request.municipality, status=params.get("status", "") if params.get("status") in Status.values else "",
        service_id=parse_int(service_id),
        channel=params.get("kanal", "") if params.get("kanal") in Channel.values else "",
        overdue=params.get("ueberfaellig") == "1", query=params.get("q", "")[:50],
    )
    export = params.get("export")
    if export in ("csv", "json"):
        return _export(qs, export, request.municipality)
    page = paginate_by_keys(qs, INBOX_PAGE_SIZE, params.get("seite"))
    open_data_requests = account_selectors.data_request_open_count(municipality=request.municipality)
    letters_to_post = decisions_to_post_count(municipality=request.municipality)
    query = params.copy()
    query.pop("seite", None)
    return render(request, "applications/inbox.html", {
        "page": page, "services": service_choices(municipality=request.municipality),
        "statuses": Status.choices, "channels": Channel.choices, "params": params, "query": query.urlencode(),
        "today": timezone.localdate(), "open_data_requests": open_data_requests, "letters_to_post": letters_to_post,
    })


def _export(qs, fmt: str, municipality):
    # Codes for machines, labels for people; times in the town's time (with offset), as staff read them.
    rows = [{"reference": a.reference, "service": a.service.name, "status": a.status,
             "status_label": str(a.get_status_display()), "channel": a.channel,
             "channel_label": str(a.get_channel_display()),
             "submitted_at": local_time(a.submitted_at),
             "due_date": a.due_date.isoformat(), "applicant_name": a.applicant_name} for a in qs.iterator(chunk_size=2000)]
    return list_export(rows, fmt, f"antraege-{municipality.slug}", "reference")


@staff_view(Perm.HANDLE_APPLICATION)
def staff_detail(request, reference: str):
    application = selectors.application_get(municipality=request.municipality, reference=reference)
    status_form = StatusChangeForm(initial={"status": application.status})
    note_form = StaffNoteForm()
    if request.method == "POST":
        if "status" in request.POST:
            status_form = StatusChangeForm(request.POST)
            if status_form.is_valid():
                services.application_change_status(application=application, actor=request.user, ip=client_ip(request),
                                                   **status_form.cleaned_data)
                messages.success(request, _("Status geändert."))
                return redirect(request.path)
        else:
            note_form = StaffNoteForm(request.POST)
            if note_form.is_valid():
                services.note_add(application=application, author=request.user, text=note_form.cleaned_data["text"],
                                  ip=client_ip(request))
                messages.success(request, _("Notiz gespeichert."))
                return redirect(request.path)
    context = _status_context(request, application, None)
    context.update({"status_form": status_form, "note_form": note_form, "notes": list(application.notes.all()),
                    "rules": FormSpec.from_schema(application.form.schema).rules()})
    return render(request, "applications/staff_detail.html", context)


@staff_view(Perm.HANDLE_APPLICATION)
def staff_receipt_pdf(request, reference: str):
    return _pdf_response(selectors.application_get(municipality=request.municipality, reference=reference))


@staff_view(Perm.ASSISTED_ENTRY)
def assisted_start(request):
    services_qs = service_list(municipality=request.municipality)
    person_error = ""
    if request.method == "POST":
        slug = request.POST.get("service", "")
        channel = request.POST.get("channel", "")
        person_email = request.POST.get("person", "").strip()[:254]
        code = account_services.assistance_code_normalised(request.POST.get("code", ""))
        if channel not in (Channel.OFFICE, Channel.PAPER, Channel.PHONE) or not services_qs.filter(slug=slug).exists():
            messages.error(request, _("Bitte wählen Sie eine Leistung und den Eingangskanal."))
        elif person_email and not code:
            person_error = _("Bitte geben Sie auch den Freigabecode ein, den die Person unter „Meine Daten“ in ihrem "
                             "Konto erzeugt hat. Ohne Code lassen Sie das Feld leer und erfassen ohne Konto.")
        else:
            service_obj = services_qs.get(slug=slug)
            # Her data fill the form only with her consent: the code she made in her account, used
            # up here, in the transaction that creates the draft (a failure leaves it unused).
            with transaction.atomic():
                citizen = None
                if person_email:
                    citizen = account_services.assistance_code_redeem(
                        email=person_email, code=code, actor=request.user, municipality=request.municipality,
                        ip=client_ip(request))
                if person_email and citizen is None:
                    person_error = _("E-Mail-Adresse und Freigabecode passen zu keinem Bürgerkonto, oder der Code "
                                     "ist abgelaufen (er gilt 30 Minuten). Bitten Sie die Person um einen neuen Code "
                                     "oder lassen Sie beide Felder leer, um ohne Konto zu erfassen.")
                else:
                    data = None
                    if citizen is not None:
                        profile = account_services.profile_disclose(user=citizen, actor=request.user,
                                                                    municipality=request.municipality,
                                                                    ip=client_ip(request))
                        data = apply_prefill({}, FormSpec.from_schema(service_obj.form.schema), profile)[0]
                    draft = services.draft_create(municipality=request.municipality, service=service_obj, user=citizen,
                                                  channel=channel, assisted_by=request.user, data=data)
            if not person_error:
                return redirect("applications:step", municipality=request.municipality.slug, token=draft.token, index=1)
    return render(request, "applications/assisted_start.html", {
        "services": services_qs, "channels": [(c, label) for c, label in Channel.choices if c != Channel.ONLINE],
        "person": request.POST.get("person", "") if request.method == "POST" else "", "person_error": person_error,
    }, status=422 if person_error else 200)


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
