from __future__ import annotations

import base64
import io
import json
import shutil
import tempfile
import zipfile

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.hashers import make_password
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, match_token, user_has_device
from django_otp import login as otp_login
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from rathaus.core.audit import audit_record, client_ip
from rathaus.core.decorators import staff_view
from rathaus.core.exports import json_response, list_export, local_time

from . import selectors, services
from .forms import (
    DataRequestCompleteForm,
    DataRequestRefuseForm,
    ErasureRequestForm,
    LoginForm,
    PasswordResetRequestForm,
    ProfileForm,
    RegisterForm,
    TokenForm,
)
from .models import RequestState
from .pdf import personal_data_pdf
from .rules import Perm
from .tasks import RESET_EMAIL_TEMPLATE, RESET_SUBJECT_TEMPLATE


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@method_decorator(ratelimit(key="ip", rate=lambda g, r: settings.RATELIMIT_LOGIN, method="POST", block=True), name="post")
class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = False

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        audit_record(action="account.login", actor=user, obj=user, ip_address=client_ip(self.request))
        if user.memberships.exists():
            # Staff always pass a second factor before any staff page.
            step = "accounts:otp" if user_has_device(user) else "accounts:otp_setup"
            # get_success_url() checked the host; encoded, its own query survives (?next=/a/?x=1&y=2).
            return redirect(f"{reverse(step)}?{urlencode({'next': self.get_success_url()})}")
        return response

    def form_invalid(self, form):
        username = (form.data.get("username") or "")[:150]
        audit_record(action="account.login_failed", actor_label=username, ip_address=client_ip(self.request))
        return super().form_invalid(form)


def _throttled(user, confirmed: bool = True) -> bool:
    # django-otp refuses every code for 2^n seconds after n failures, even a right one: say so
    # instead of "wrong code", and check before trying so a throttled attempt is not counted.
    return any(not device.verify_is_allowed()[0] for device in devices_for_user(user, confirmed=confirmed))


def _throttled_message() -> str:
    return _("Zu viele falsche Codes. Bitte warten Sie einen Moment und geben Sie dann den aktuellen Code ein.")


@login_required
@ratelimit(key="user", rate="10/m", method="POST", block=True)
def otp_verify(request):
    if not user_has_device(request.user):
        return redirect("accounts:otp_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _throttled(request.user):
            form.add_error("token", _throttled_message())
        else:
            device = match_token(request.user, form.cleaned_data["token"])
            if device is not None:
                otp_login(request, device)
                audit_record(action="account.2fa_passed", actor=request.user, obj=request.user, ip_address=client_ip(request))
                return redirect(_safe_next(request))
            form.add_error("token", _("Der Code stimmt nicht oder ist abgelaufen. Geben Sie den aktuellen Code aus Ihrer App ein."))
        audit_record(action="account.2fa_failed", actor=request.user, obj=request.user, ip_address=client_ip(request))
    return render(request, "accounts/otp.html", {"form": form, "next": _safe_next(request, "")})


@login_required
def otp_setup(request):
    if user_has_device(request.user):
        return redirect("accounts:otp")
    device = services.totp_device_for_setup(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _throttled(request.user, confirmed=False):
            form.add_error("token", _throttled_message())
        elif services.totp_confirm(user=request.user, device=device, token=form.cleaned_data["token"], ip=client_ip(request)):
            otp_login(request, device)
            messages.success(request, _("Die Zwei-Faktor-Anmeldung ist eingerichtet."))
            return redirect(_safe_next(request))
        else:
            form.add_error("token", _("Der Code stimmt nicht. Prüfen Sie die Uhrzeit Ihres Geräts und versuchen Sie es erneut."))
    secret = base64.b32encode(device.bin_key).decode()
    buffer = io.BytesIO()
    qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    qr_data_uri = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    return render(request, "accounts/otp_setup.html", {"form": form, "secret": secret, "qr": qr_data_uri, "next": _safe_next(request, "")})


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        audit_record(action="account.logout", actor=request.user, obj=request.user, ip_address=client_ip(request))
    logout(request)
    messages.info(request, _("Sie sind abgemeldet."))
    return redirect("portal:home")


def _email_key(group, request) -> str:
    return (request.POST.get("email") or "").strip().lower()


@ratelimit(key="ip", rate="10/h", method="POST", block=True)
def register(request):
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        site_url, ip = request.build_absolute_uri("/"), client_ip(request)
        done = render(request, "accounts/register_done.html", {"email": form.cleaned_data["email"]})
        # An address that has an account gets the same answer as a new one: nobody learns from this
        # page whether it has an account; its owner learns it by e-mail. A few mails per address and hour.
        existing = form.pending_user or form.existing_user
        if existing is not None:
            # The work a new account costs (hashing the password), so the answer takes as long.
            make_password(form.cleaned_data["password"])
            if not is_ratelimited(request, group="accounts.resend-verification", key=_email_key, rate="3/h", increment=True):
                if form.pending_user is not None:  # registered before, never verified: a fresh link
                    services.user_verification_resend(user=existing, site_url=site_url, ip=ip)
                elif existing.is_active:
                    services.user_registration_attempted(user=existing, site_url=site_url, ip=ip)
            return done
        try:
            services.user_register(**form.cleaned_data, site_url=site_url, ip=ip)
        except services.EmailTaken:
            pass  # the other registration, a moment earlier, sent its owner the link
        return done
    return render(request, "accounts/register.html", {"form": form})


@method_decorator(ratelimit(key="ip", rate="10/h", method="POST", block=True), name="post")
@method_decorator(ratelimit(key=_email_key, rate="5/h", method="POST", block=True), name="post")
class PasswordResetView(auth_views.PasswordResetView):
    """Asks for the address; whether it has an account or not, the answer is the same page."""

    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset.html"
    email_template_name = RESET_EMAIL_TEMPLATE  # the job renders them (PasswordResetRequestForm.send_mail)
    subject_template_name = RESET_SUBJECT_TEMPLATE
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


@method_decorator(ratelimit(key="ip", rate="20/h", method="POST", block=True), name="post")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        services.user_password_reset(user=form.user, password=form.cleaned_data["new_password1"], ip=client_ip(self.request))
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return redirect(self.get_success_url())


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def verify_email(request, token: str):
    user = services.user_verify_email(token=token)
    if user is None:
        return render(request, "accounts/verify_failed.html", status=400)
    messages.success(request, _("Ihre E-Mail-Adresse ist bestätigt. Sie können sich jetzt anmelden."))
    return redirect("accounts:login")


# ---------------------------------------------------------------- citizen: "Meine Daten", export, erasure

@login_required
def my_data(request):
    """The citizen's account page: profile for once-only prefill, her data, her requests."""
    profile = selectors.profile_for(user=request.user)
    initial = {"first_name": request.user.first_name, "last_name": request.user.last_name,
               "birth_date": profile.birth_date.strftime("%d.%m.%Y") if profile.birth_date else "",
               **{name: getattr(profile, name) for name in ("street", "house_number", "postal_code", "city", "phone")}}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.profile_update(user=request.user, ip=client_ip(request), **form.cleaned_data)
        messages.success(request, _("Ihre Daten sind gespeichert. Neue Anträge übernehmen sie; gestellte Anträge bleiben, wie sie sind."))
        return redirect("accounts:my_data")
    return render(request, "accounts/my_data.html", {
        "form": form, "requests": list(selectors.data_requests_for_user(user=request.user)),
        "municipalities": selectors.municipalities_with_data(user=request.user)}, status=422 if form.errors else 200)


@login_required
@ratelimit(key="user", rate="20/h", block=True)
def my_data_export(request, fmt: str):
    """Everything stored about the citizen (Art. 15 GDPR): JSON for machines, PDF for people."""
    document = selectors.personal_data_export(user=request.user)
    services.data_export_record(user=request.user, fmt=fmt, ip=client_ip(request))
    stamp = timezone.localdate().isoformat()
    if fmt == "json":
        return json_response(document, f"meine-daten-{stamp}.json")
    if fmt == "zip":
        return _data_archive(document, selectors.personal_data_files(user=request.user), stamp)
    response = HttpResponse(personal_data_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="meine-daten-{stamp}.pdf"'
    return response


ARCHIVE_README = gettext_lazy(
    "Ihre Daten bei Rathaus (Auskunft nach Art. 15 DSGVO)\n\n"
    "meine-daten.pdf: alles zum Lesen.\n"
    "meine-daten.json: dasselbe maschinenlesbar, zum Mitnehmen zu einem anderen Anbieter.\n"
    "dateien/: die Dokumente Ihrer Anträge, die für Sie bestimmt sind (Ihre Uploads, Bestätigungen, Bescheide), "
    "je Vorgangsnummer ein Ordner. In der JSON-Datei nennt \"in_archive\" den Ort jeder Datei.\n")


def _data_archive(document: dict, files: list, stamp: str) -> FileResponse:
    """One ZIP with the PDF, the JSON and her files; spooled to disk when large, never wholly in memory."""
    archive = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)  # noqa: SIM115 - handed to the response, which closes it
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("LIESMICH.txt", str(ARCHIVE_README))
        bundle.writestr("meine-daten.json", json.dumps(document, ensure_ascii=False, indent=2, default=str))
        bundle.writestr("meine-daten.pdf", personal_data_pdf(document))
        for path, version in files:
            with version.file.open("rb") as source, bundle.open(path, "w") as target:
                shutil.copyfileobj(source, target)
    archive.seek(0)
    return FileResponse(archive, as_attachment=True, filename=f"meine-daten-{stamp}.zip", content_type="application/zip")


@login_required
@ratelimit(key="user", rate="10/h", method="POST", block=True)
def assistance_code(request):
    """The citizen makes a code that lets staff at an office use her account's data once."""
    if request.user.memberships.exists():
        raise Http404  # staff accounts are never looked up for assisted entry
    code = expires_at = None
    if request.method == "POST":
        code, expires_at = services.assistance_code_create(user=request.user, ip=client_ip(request))
    return render(request, "accounts/assistance_code.html", {
        "code": f"{code[:4]} {code[4:]}" if code else "", "expires_at": expires_at,
        "minutes": services.ASSISTANCE_CODE_MINUTES})


@login_required
@ratelimit(key="user", rate="10/h", method="POST", block=True)
def erasure(request):
    """Ask for erasure (Art. 17 GDPR): one request to each municipality that holds her data."""
    form = ErasureRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.erasure_request(user=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request))
        except services.NothingToErase:
            messages.info(request, _("Es gibt keine Stelle, bei der ein neuer Antrag nötig ist: Entweder ist keine Kommune mit Daten von Ihnen gespeichert, oder Ihr Antrag liegt dort schon."))
        else:
            messages.success(request, _("Ihr Antrag auf Löschung ist an %(n)d Stelle(n) gegangen. Sie erhalten die Antworten per E-Mail.") % {"n": len(created)})
        return redirect("accounts:my_data")
    # Listed only when the page is shown: the service looks them up itself when it files the requests.
    municipalities = selectors.municipalities_with_data(user=request.user)
    return render(request, "accounts/erasure.html", {"form": form, "municipalities": municipalities},
                  status=422 if form.errors else 200)


@login_required
@require_POST
def profile_take_over(request, municipality: str, reference: str):
    """After submitting: take the values she entered into her profile, if she chooses to."""
    from rathaus.applications.models import Application

    application = (Application.objects.filter(municipality__slug=municipality, reference=reference, applicant=request.user,
                                              anonymised_at__isnull=True).select_related("form").first())
    if application is None:
        raise Http404
    keys = request.POST.getlist("key")
    taken = services.profile_update_from_application(user=request.user, application=application, keys=keys,
                                                     ip=client_ip(request))
    if taken:
        messages.success(request, _("Ihre Angaben sind in „Meine Daten“ übernommen."))
    else:
        messages.info(request, _("Es gab nichts zu übernehmen."))
    return redirect(_safe_next(request, reverse("accounts:my_data")))


# ---------------------------------------------------------------- staff: data subject requests

DATA_REQUESTS_PAGE_SIZE = 50


@staff_view(Perm.VIEW_DATA_REQUESTS)
def data_requests(request):
    """The municipality's GDPR requests, open first, with their one-month deadline; CSV/JSON export."""
    params = request.GET
    state = params.get("stand", "") if params.get("stand") in RequestState.values else ""
    qs = selectors.data_request_list(municipality=request.municipality, state=state, overdue=params.get("ueberfaellig") == "1")
    if params.get("export") in ("csv", "json"):
        rows = [{"reference": r.reference, "kind": r.kind, "state": r.state, "requester_name": r.requester_name,
                 "created_at": local_time(r.created_at), "due_date": r.due_date.isoformat(),
                 "closed_at": local_time(r.closed_at),
                 "closed_by": r.closed_by.get_username() if r.closed_by else ""} for r in qs]
        return list_export(rows, params["export"], f"datenschutz-anfragen-{request.municipality.slug}", "reference")
    page = Paginator(qs, DATA_REQUESTS_PAGE_SIZE).get_page(params.get("seite"))
    query = params.copy()
    query.pop("seite", None)
    return render(request, "accounts/data_requests.html", {
        "page": page, "states": RequestState.choices, "params": params, "query": query.urlencode(),
        "today": timezone.localdate()})


def _exchange_outcome(result: dict) -> list[dict]:
    """The exchange registrations a completed request anonymised or kept, as the staff page lists them.

    Read from the request's result: anonymised registrations no longer point to the person."""
    from rathaus.exchanges.models import RegistrationStatus

    return [{"label": services.exchange_registration_label(entry), "status": RegistrationStatus(entry["status"]).label,
             "anonymised": anonymised, "reason": entry.get("reason", "")}
            for anonymised, entries in ((True, result.get("anonymised", [])), (False, result.get("kept", [])))
            for entry in entries]


@staff_view(Perm.VIEW_DATA_REQUESTS)
def data_request_detail(request, pk: int):
    """One request: what the municipality holds about the person, and the decision (team lead)."""
    data_request = selectors.data_request_get(municipality=request.municipality, pk=pk)
    held = selectors.subject_data_in(municipality=request.municipality, user=data_request.user)
    closable = [a for a in held["applications"] if a.closed_at and not a.anonymised_at]
    choices = [(a.pk, f"{a.reference} – {a.service.name}") for a in closable]
    may_decide = request.user.has_perm(Perm.DECIDE_DATA_REQUESTS, request.municipality) and data_request.is_open
    complete_form = DataRequestCompleteForm(choices=choices, initial={"applications": [a.pk for a in closable]})
    refuse_form = DataRequestRefuseForm()
    if request.method == "POST":
        if not may_decide:
            raise Http404("no decision possible")
        back = redirect("dataprotection:detail", municipality=request.municipality.slug, pk=data_request.pk)
        try:
            if "_refuse" in request.POST:
                refuse_form = DataRequestRefuseForm(request.POST)
                if refuse_form.is_valid():
                    services.data_request_refuse(request=data_request, actor=request.user,
                                                 reason=refuse_form.cleaned_data["reason"], ip=client_ip(request))
                    messages.success(request, _("Die Anfrage ist abgelehnt; die Person erhält Ihre Begründung per E-Mail."))
                    return back
            else:
                complete_form = DataRequestCompleteForm(request.POST, choices=choices)
                if complete_form.is_valid():
                    chosen = [a for a in closable if a.pk in complete_form.cleaned_data["applications"]]
                    if "_confirm" not in request.POST:
                        return render(request, "accounts/data_request_confirm.html", {
                            "data_request": data_request, "chosen": chosen, "form": complete_form,
                            "kept": [a for a in held["applications"] if a not in chosen and not a.anonymised_at]})
                    services.data_request_complete(request=data_request, actor=request.user,
                                                   application_ids=[a.pk for a in chosen],
                                                   message=complete_form.cleaned_data["message"], ip=client_ip(request))
                    messages.success(request, _("Die Anfrage ist erledigt; die Person erhält die Antwort per E-Mail."))
                    return back
        except services.RequestClosed:
            messages.error(request, _("Diese Anfrage wurde inzwischen schon beantwortet."))
            return back
    return render(request, "accounts/data_request_detail.html", {
        "data_request": data_request, "held": held, "closable": closable, "may_decide": may_decide,
        "exchange_outcome": _exchange_outcome(data_request.result.get("exchanges", {})),
        "complete_form": complete_form, "refuse_form": refuse_form, "today": timezone.localdate(),
        "checked": {str(value) for value in complete_form["applications"].value() or []},
    }, status=422 if complete_form.errors or refuse_form.errors else 200)
