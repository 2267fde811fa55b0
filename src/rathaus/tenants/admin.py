from django.contrib import admin
from django.db import transaction

from rathaus.core.admin import AuditedAdminMixin
from rathaus.core.audit import client_ip

from .models import Municipality
from .services import BANK_FIELDS, LETTER_FIELDS, bank_change_notify, municipality_create


@admin.register(Municipality)
class MunicipalityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "ags", "is_active")
    search_fields = ("name", "slug", "ags")
    # The bank details and what letters print (address, remedy) are the town's published data, not
    # personal data; a change is worth seeing in the trail.
    audit_values = ("slug", "ags", "is_active", "payee_name", "iban", "bic", *LETTER_FIELDS)
    audited_by_service = frozenset({"added"})

    def save_model(self, request, obj, form, change):
        if change:
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                if any(name in form.changed_data for name in BANK_FIELDS):
                    old = {name: form.initial.get(name) for name in BANK_FIELDS}  # the stored values the form started from
                    bank_change_notify(municipality=obj, old=old, actor=request.user)
            return
        fields = {f.name: getattr(obj, f.name) for f in Municipality._meta.concrete_fields if f.editable and not f.primary_key}
        created = municipality_create(actor=request.user, ip_address=client_ip(request), **fields)
        # The admin goes on with its own instance (history entry, redirect), which is now the stored row.
        obj.pk, obj.created_at, obj._state.adding = created.pk, created.created_at, False
