"""Writes on the catalogue: services and their forms."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rathaus.core.audit import audit_record, old_and_new
from rathaus.forms.models import FormDefinition
from rathaus.tenants.models import Municipality
from rathaus_domain.forms.fim import import_xdf
from rathaus_domain.forms.validation import check_form_schema

from .models import LifeSituation, Service


class FormSchemaInvalid(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def form_definition_create(*, municipality, key: str, title: str, schema: dict[str, Any], source: str = FormDefinition.Source.MANUAL,
                           fim_id: str = "", rules: list | None = None, actor=None) -> FormDefinition:
    """Store a new version of a form after checking it is a closed, valid form schema.

    Raises ``FormSchemaInvalid`` for a bad schema and ``ValidationError`` for a bad key or title.
    """
    problems = check_form_schema(schema)
    if problems:
        raise FormSchemaInvalid(problems)
    with transaction.atomic():
        latest = FormDefinition.objects.for_municipality(municipality).filter(key=key).order_by("-version").first()
        if latest is not None and latest.schema == schema:
            return latest
        form = FormDefinition(municipality=municipality, key=key, title=title, schema=schema, source=source,
                              fim_id=fim_id, rules=rules or [], version=(latest.version + 1) if latest else 1)
        form.full_clean()
        form.save()
        audit_record(action="form.created", municipality=municipality, actor=actor, obj=form, summary=f"{key} v{form.version}")
    return form


def service_upsert(*, municipality, slug: str, form: FormDefinition, actor=None, life_situations: list[tuple[str, str, str]] = (),
                   **fields: Any) -> Service:
    """Create or update a service by slug; it always points at the given form version.

    Raises ``ValidationError`` for values the model refuses (a slug that cannot be part of a URL,
    a LeiKa key that is not 14 digits, …).
    """
    with transaction.atomic():
        service = Service.objects.select_for_update().filter(municipality=municipality, slug=slug).first()
        created = service is None
        if service is None:
            service = Service(municipality=municipality, slug=slug)
        for name, value in {**fields, "form": form}.items():
            setattr(service, name, value)
        # The texts may be left for the admin to fill in; anything else must be valid before it is stored.
        service.full_clean(exclude=["summary", "office"])
        service.save()
        situations = [LifeSituation.objects.get_or_create(key=key, defaults={"name": name, "name_en": name_en})[0]
                      for key, name, name_en in life_situations]
        if situations:
            service.life_situations.set(situations)
        audit_record(action="service.created" if created else "service.updated", municipality=municipality, actor=actor,
                     obj=service, summary=service.name)
    return service


#: What a service's decision letters print about the remedy against them: a change alters every later
#: letter's legal effect (a wrong instruction extends the time limit to a year), so its audit entry
#: keeps old and new value, as the town's letter settings do.
SERVICE_LETTER_FIELDS = ("remedy",)


def service_update(*, service: Service, actor=None, ip_address: str | None = None, **fields: Any) -> Service:
    """Change fields of a service with the model's validation; an update that changes nothing writes nothing.

    Raises ``ValidationError`` (nothing stored, `service` keeps its stored values) for a value the
    model refuses, e.g. a remedy whose court or address the town has not given. A change of
    SERVICE_LETTER_FIELDS is audited with the old and the new value.
    """
    changed = [name for name, value in fields.items() if getattr(service, name) != value]
    if not changed:
        return service
    before = {name: getattr(service, name) for name in changed}
    try:
        with transaction.atomic():
            # The town's row is locked, as municipality_update locks it: the remedy is checked
            # against details the town cannot remove before this commits.
            service.municipality = Municipality.objects.select_for_update().get(pk=service.municipality_id)
            for name in changed:
                setattr(service, name, fields[name])
            # As in service_upsert: texts may still be left for the admin to fill in.
            service.full_clean(exclude=["summary", "office"])
            service.save(update_fields=[*changed, "updated_at"])
            data: dict[str, Any] = {"fields": changed}
            letters = {name: before[name] for name in changed if name in SERVICE_LETTER_FIELDS}
            if letters:
                data["letters"] = old_and_new(letters, service)
            audit_record(action="service.updated", municipality=service.municipality, actor=actor, obj=service,
                         summary=f"{service.name}: {', '.join(changed)}", data=data, ip_address=ip_address)
    except ValidationError:
        for name in changed:
            setattr(service, name, before[name])
        raise
    return service


def service_import_fim(*, municipality, xml: bytes, leika_key: str, office: str, slug: str | None = None,
                       processing_days: int = 20, actor=None, publish: bool = True) -> Service:
    """Import a FIM XDatenfelder schema as a form and offer it as a service.

    Stores nothing when the slug or another value is refused (``ValidationError``).
    """
    imported = import_xdf(xml)
    key = (slug or imported.fim_id or "fim").lower()
    # A service refused after its form was stored must not leave the form behind.
    with transaction.atomic():
        form = form_definition_create(municipality=municipality, key=key, title=imported.title, schema=imported.schema,
                                      source=FormDefinition.Source.FIM, fim_id=imported.fim_id, rules=imported.rules, actor=actor)
        description = imported.schema.get("description", "") or imported.title
        return service_upsert(
            municipality=municipality, slug=key, form=form, actor=actor, leika_key=leika_key, name=imported.title,
            summary=str(description)[:400], description=str(description), office=office, processing_days=processing_days,
            legal_basis=str(imported.schema.get("x-legal-basis", ""))[:400], is_published=publish,
        )
