from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, match_token, user_has_device
from django_otp import login as otp_login
from django_ratelimit.decorators import ratelimit

from rathaus.core.audit import audit_record, client_ip

from . import services
from .forms import LoginForm, RegisterForm, TokenForm


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
            return redirect(f"{redirect(step).url}?next={self.get_success_url()}")
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


@ratelimit(key="ip", rate="10/h", method="POST", block=True)
def register(request):
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.user_register(**form.cleaned_data, site_url=request.build_absolute_uri("/"), ip=client_ip(request))
        return render(request, "accounts/register_done.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/register.html", {"form": form})


def verify_email(request, token: str):
    user = services.user_verify_email(token=token)
    if user is None:
        return render(request, "accounts/verify_failed.html", status=400)
    messages.success(request, _("Ihre E-Mail-Adresse ist bestätigt. Sie können sich jetzt anmelden."))
    return redirect("accounts:login")
