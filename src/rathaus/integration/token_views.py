"""Staff page "API-Zugänge": the municipality's administrators create and revoke API tokens."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from rathaus.accounts.rules import Perm
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view
from rathaus.core.exports import list_download, local_time
from rathaus.core.params import parse_int

from . import selectors, services
from .auth import grantable_permissions

# What each permission lets a token do, in the words of the page (names not listed show as they are).
PERMISSION_LABELS = {
    Perm.VIEW_INBOX: gettext_lazy("Vorgänge, Dokumente und Ereignisse lesen"),
    Perm.HANDLE_APPLICATION: gettext_lazy("Anträge bearbeiten: Eingänge erfassen, als FIT-Connect-Einreichung exportieren"),
    Perm.ASSISTED_ENTRY: gettext_lazy("Anträge für Personen erfassen"),
    Perm.MANAGE_SERVICES: gettext_lazy("Leistungen verwalten"),
    Perm.MANAGE_EXCHANGES: gettext_lazy("Börsen verwalten"),
    Perm.RUN_ALLOCATION: gettext_lazy("Platzvergabe ausführen"),
    Perm.WORK_TASKS: gettext_lazy("Aufgaben lesen und abschließen"),
    Perm.ASSIGN_TASKS: gettext_lazy("Aufgaben zuweisen"),
    Perm.MANAGE_PROCESSES: gettext_lazy("Prozessmodelle verwalten"),
    "integration.manage": gettext_lazy("Anbindungen (Webhooks, E-Mail-Empfänger) verwalten"),
    "accounts.view_data_requests": gettext_lazy("Anträge auf Auskunft und Löschung einsehen"),
    "accounts.decide_data_requests": gettext_lazy("Über Anträge auf Auskunft und Löschung entscheiden"),
    "cases.handle_documents": gettext_lazy("Akten führen: Dokumente hinzufügen und nachfordern"),
    "cases.view_confidential": gettext_lazy("Vertrauliche Dokumente öffnen"),
    "cases.manage_legal_holds": gettext_lazy("Aufbewahrungssperren setzen und aufheben"),
    "cases.manage_retention": gettext_lazy("Aufbewahrungsregeln verwalten"),
}


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Bezeichnung"), max_length=100,
                           help_text=gettext_lazy("Wofür ist der Zugang? Zum Beispiel der Name des Fachverfahrens."))
    valid_days = forms.TypedChoiceField(label=gettext_lazy("Gültig für"), coerce=int, initial=90,
                                        choices=[(d, gettext_lazy("%(n)s Tage") % {"n": d}) for d in services.TOKEN_VALIDITY_DAYS])
    permissions = forms.MultipleChoiceField(label=gettext_lazy("Berechtigungen"), choices=())

    def __init__(self, *args, allowed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = [(p, PERMISSION_LABELS.get(p, p)) for p in allowed]
        self.fields["name"].error_messages["required"] = _("Bitte geben Sie eine Bezeichnung ein.")
        self.fields["permissions"].error_messages["required"] = _("Bitte wählen Sie mindestens eine Berechtigung.")


def _labels(token) -> list[str]:
    return [str(PERMISSION_LABELS.get(p, p)) for p in token.permissions]


def _allowed(request) -> list[str]:
    """The permissions this administrator can hand on: only those she holds herself."""
    return [p for p in grantable_permissions() if request.user.has_perm(p, request.municipality)]


def _page(request, form: TokenForm, status: int = 200):
    tokens = list(selectors.api_token_list(municipality=request.municipality))
    for token in tokens:
        token.permission_labels = _labels(token)
    revoke = None
    wanted = parse_int(request.GET.get("widerrufen", ""))
    if wanted is not None:
        revoke = next((t for t in tokens if t.pk == wanted and t.revoked_at is None), None)
    return render(request, "integration/tokens.html", {
        "form": form, "tokens": tokens, "revoke": revoke, "now": timezone.now()}, status=status)


@staff_view(Perm.MANAGE_API_TOKENS)
def tokens(request):
    """List, create (shown once) and revoke (after confirmation) the municipality's API tokens."""
    allowed = _allowed(request)
    if download := list_download(request, f"api-zugaenge-{request.municipality.slug}", lambda: [
            {"name": t.name, "prefix": t.prefix, "permissions": " ".join(t.permissions),
             "created_by": t.created_by.get_username() if t.created_by else "", "created_at": local_time(t.created_at),
             "expires_at": local_time(t.expires_at), "last_used_at": local_time(t.last_used_at),
             "revoked_at": local_time(t.revoked_at)}
            for t in selectors.api_token_list(municipality=request.municipality)], "name"):
        return download
    if request.method != "POST":
        return _page(request, TokenForm(allowed=allowed))
    if request.POST.get("action") == "revoke":
        token = selectors.api_token_get(municipality=request.municipality, pk=parse_int(request.POST.get("token"), 0, max_digits=11))
        services.api_token_revoke(token=token, actor=request.user, ip=client_ip(request))
        messages.success(request, _("Der Zugang „%(name)s“ ist widerrufen und funktioniert ab sofort nicht mehr.") % {"name": token.name})
        return redirect("integration:tokens", municipality=request.municipality.slug)
    form = TokenForm(request.POST, allowed=allowed)
    if not form.is_valid():
        return _page(request, form, status=422)
    try:
        token, raw = services.api_token_create(
            municipality=request.municipality, actor=request.user, name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"], valid_days=form.cleaned_data["valid_days"], ip=client_ip(request))
    except services.TokenInvalid as exc:
        for field, message in exc.errors.items():
            form.add_error(field if field in form.fields else None, message)
        return _page(request, form, status=422)
    token.permission_labels = _labels(token)
    response = render(request, "integration/tokens_created.html", {
        "token": token, "raw": raw,
        "summary": ngettext("%(n)s Berechtigung", "%(n)s Berechtigungen", len(token.permissions)) % {"n": len(token.permissions)}},
        status=200)
    # The token is on this page only: no cache may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


