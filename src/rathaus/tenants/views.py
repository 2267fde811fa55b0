"""Staff pages of a municipality's own settings (its administration)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from rathaus.accounts.rules import Perm
from rathaus.catalog.selectors import service_remedy_list
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view

from .forms import BankAccountForm, LetterSettingsForm
from .models import Municipality
from .services import municipality_update


@staff_view(Perm.MANAGE_BANK_ACCOUNT)
def bank_account(request):
    """The account citizens pay fees to: letters and payment requests name it."""
    municipality = request.municipality
    # The form checks a copy: municipality_update compares with the stored values to audit the change.
    form = BankAccountForm(request.POST or None, instance=Municipality.objects.get(pk=municipality.pk))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            municipality_update(municipality=municipality, actor=request.user, ip_address=client_ip(request),
                                **form.cleaned_data)
            messages.success(request, _("Bankverbindung gespeichert.") if municipality.has_bank_account
                             else _("Bankverbindung entfernt: Zahlungsaufforderungen nennen kein Konto mehr."))
            return redirect(request.path)
        status = 422
    return render(request, "tenants/bank_account.html", {"form": form}, status=status)


@staff_view(Perm.MANAGE_LETTER_SETTINGS)
def letter_settings(request):
    """The sender's address and the legal remedy every decision letter names, with a preview of the text."""
    municipality = request.municipality
    # As on the bank page, the form works on a copy; "Vorschau" shows its values without storing them.
    form = LetterSettingsForm(request.POST or None, instance=Municipality.objects.get(pk=municipality.pk))
    shown, previewing, status = municipality, False, 200
    if request.method == "POST":
        if not form.is_valid():
            status = 422
        elif request.POST.get("action") == "preview":
            shown, previewing = form.instance, True
        else:
            municipality_update(municipality=municipality, actor=request.user, ip_address=client_ip(request),
                                **form.cleaned_data)
            messages.success(request, _("Angaben für Bescheide gespeichert. Jeder neue Bescheid druckt sie ab."))
            return redirect(request.path)
    services = service_remedy_list(municipality=municipality)
    # Services with a remedy of their own print it with these details: the preview shows their text too.
    own = [{"service": s, "instruction": shown.remedy_instruction(s.remedy)} for s in services if s.remedy]
    return render(request, "tenants/letter_settings.html", {
        "form": form, "previewing": previewing, "configured": bool(shown.remedy),
        "sender": shown.sender, "instruction": shown.remedy_instruction(), "services": services,
        "own_remedies": own}, status=status)
