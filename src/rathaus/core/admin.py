"""The Django admin writes to the audit trail like every service: who, what, when, which municipality.

`AuditedAdminMixin` hooks the admin's own history (`log_addition`, `log_change`,
`log_deletions`, which Django calls inside the view's transaction for the add and change
forms, the list's inline editing, the delete page, the delete action and the password form)
and the inline formsets, so every write through the admin gets an audit entry. Our admins use
the mixin explicitly; :func:`audit_every_admin` gives it to the rest (Django's, third-party
apps') once all admin modules are loaded.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import router, transaction

from .audit import audit_record, client_ip


def _tenant_of(obj, verb: str):
    """The municipality whose audit chain records a write on `obj` (None: the global chain)."""
    from rathaus.tenants.models import Municipality

    if isinstance(obj, Municipality):
        # Audit rows protect their municipality from deletion, so its deletion goes to the global chain.
        return None if verb == "deleted" else obj
    if getattr(obj, "municipality_id", None) is not None:
        return obj.municipality
    return None


def _changed_labels(message: Any) -> list[str]:
    """Field labels of the main object from the admin's change message (a JSON structure or text)."""
    if not isinstance(message, list):
        return []
    return [str(label) for part in message for label in part.get("changed", {}).get("fields", [])
            if "name" not in part.get("changed", {})]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


class AuditedAdminMixin:
    """Mix into a `ModelAdmin` (before it) so each add, change and delete is audited.

    The entry names the model, the object's id, the labels of the changed fields and the new
    values of the fields in `audit_values` only: values can be personal data, so an admin
    lists what is safe and telling (a role, a flag, a state).
    """

    #: Fields whose new value the audit entry records, on the model and on inline models by model label.
    audit_values: tuple[str, ...] = ()
    audit_inline_values: dict[str, tuple[str, ...]] = {}
    #: Verbs ("added", "changed", "deleted") for which the admin calls a service that audits by itself.
    audited_by_service: frozenset[str] = frozenset()

    def audit(self, request, obj, verb: str, *, fields: list[str] | None = None, values: tuple[str, ...] = (),
              parent=None) -> None:
        """Append the audit entry for one admin write on `obj` (inside the admin's transaction)."""
        data: dict[str, Any] = {"via": "admin", "model": obj._meta.label_lower}
        if fields:
            data["fields"] = fields
        if values:
            data["values"] = {name: _plain(obj._meta.get_field(name).value_from_object(obj)) for name in values}
        municipality = _tenant_of(obj, verb)
        if municipality is None and parent is not None:
            municipality = _tenant_of(parent, verb)
        audit_record(action=f"admin.{verb}", municipality=municipality, actor=request.user, obj=obj,
                     summary=f"{obj._meta.label_lower} {obj.pk} {verb} in the admin", data=data,
                     ip_address=client_ip(request))

    def log_addition(self, request, obj, message):
        result = super().log_addition(request, obj, message)
        if "added" not in self.audited_by_service:
            self.audit(request, obj, "added", values=self.audit_values)
        return result

    def log_change(self, request, obj, message):
        result = super().log_change(request, obj, message)
        if "changed" not in self.audited_by_service:
            self.audit(request, obj, "changed", fields=_changed_labels(message), values=self.audit_values)
        return result

    def log_deletions(self, request, queryset):
        # Called before the deletion, so every object still has its id.
        objects = list(queryset)
        result = super().log_deletions(request, objects)
        if "deleted" not in self.audited_by_service:
            for obj in objects:
                self.audit(request, obj, "deleted", values=self.audit_values)
        return result

    def save_formset(self, request, form, formset, change):
        values = self.audit_inline_values.get(formset.model._meta.label_lower, ())
        # Rows an inline deletes are audited first: afterwards they have no id any more.
        for inline_form in formset.initial_forms:
            if inline_form in formset.deleted_forms and inline_form.instance.pk is not None:
                self.audit(request, inline_form.instance, "deleted", values=values, parent=form.instance)
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            self.audit(request, obj, "added", values=values, parent=form.instance)
        for obj, fields in formset.changed_objects:
            self.audit(request, obj, "changed", fields=list(fields), values=values, parent=form.instance)

    def response_action(self, request, queryset):
        # Actions (the bulk delete among them) write and log in one transaction, as the forms do.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().response_action(request, queryset)


class AuditedModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A plain `ModelAdmin` with the audit."""


def audit_every_admin(site: admin.AdminSite | None = None) -> list[str]:
    """Give the audit mixin to every registered admin that lacks it; returns the models changed.

    Runs when the core app is ready, after the admin loaded every app's admin module, so an
    admin registered without the mixin (Django's groups, the 2FA devices, a new app) is still
    audited.
    """
    site = site or admin.site
    wrapped = []
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, AuditedAdminMixin):
            continue
        cls = type(model_admin)
        site.unregister(model)
        site.register(model, type(f"Audited{cls.__name__}", (AuditedAdminMixin, cls), {"__module__": cls.__module__}))
        wrapped.append(model._meta.label_lower)
    return wrapped
