"""Reads on accounts: a citizen's profile, everything stored about her, data subject requests.

Citizens' reads are keyed by the user (her data spans municipalities); staff reads of data
subject requests take the municipality, like every tenant read.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from rathaus_domain.forms.model import FormSpec

from .models import DataSubjectRequest, Profile, RequestState, User


def profile_for(*, user) -> Profile:
    """The user's profile; an unsaved empty one if she has never filled it in."""
    profile = Profile.objects.filter(user=user).select_related("user").first()
    return profile or Profile(user=user)


def prefill_profile(*, user) -> dict[str, str]:
    """The mapping form prefill reads; empty for anonymous visitors (nothing to take over)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    return profile_for(user=user).as_prefill()


def citizen_by_email(*, email: str) -> User | None:
    """A verified citizen account (not staff) for assisted entry, found by its exact e-mail address."""
    email = (email or "").strip()
    if not email:
        return None
    return (User.objects.filter(email__iexact=email, email_verified=True, is_active=True, memberships__isnull=True)
            .select_related("profile").first())


def municipalities_with_data(*, user) -> list:
    """Every municipality that holds data about the user: applications, representations, exchanges."""
    from rathaus.applications.models import Application, Representation
    from rathaus.exchanges.models import ChildRegistration, HolidayRegistration, ProviderMember
    from rathaus.tenants.models import Municipality

    ids: set[int] = set()
    ids.update(Application.objects.filter(applicant=user, anonymised_at__isnull=True).values_list("municipality_id", flat=True))
    ids.update(Representation.objects.filter(representative_user=user).values_list("municipality_id", flat=True))
    for model in (ChildRegistration, HolidayRegistration):
        ids.update(model.objects.filter(parent=user).values_list("municipality_id", flat=True))
    ids.update(ProviderMember.objects.filter(user=user).values_list("municipality_id", flat=True))
    return list(Municipality.objects.filter(pk__in=ids).order_by("name"))


def data_requests_for_user(*, user):
    """A citizen's own requests, newest first, for her account page."""
    return DataSubjectRequest.objects.filter(user=user).select_related("municipality").order_by("-created_at", "-id")


def data_request_list(*, municipality, state: str = "", overdue: bool = False):
    """The staff list of one municipality: open first, then by due date."""
    qs = DataSubjectRequest.objects.for_municipality(municipality).select_related("closed_by")
    if state:
        qs = qs.filter(state=state)
    if overdue:
        qs = qs.filter(state=RequestState.OPEN, due_date__lt=timezone.localdate())
    return qs.order_by("-state", "due_date", "id") if not state else qs.order_by("due_date", "id")


def data_request_get(*, municipality, pk: int) -> DataSubjectRequest:
    return get_object_or_404(DataSubjectRequest.objects.for_municipality(municipality).select_related("user", "closed_by"),
                             pk=pk)


def data_request_open_count(*, municipality) -> int:
    return DataSubjectRequest.objects.for_municipality(municipality).filter(state=RequestState.OPEN).count()


def subject_data_in(*, municipality, user) -> dict[str, list]:
    """What one municipality holds about a person: what staff weigh when deciding on erasure."""
    from rathaus.applications.models import Application
    from rathaus.exchanges.selectors import family_registrations

    if user is None:
        return {"applications": [], "daycare": [], "holiday": []}
    applications = (Application.objects.for_municipality(municipality).filter(applicant=user)
                    .select_related("service").order_by("-submitted_at"))
    # Each registration says whether completing the request anonymises it (`erasable`; the rest is named as kept).
    daycare, holiday = family_registrations(municipality=municipality, parent=user, today=timezone.localdate())
    return {"applications": list(applications), "daycare": list(daycare), "holiday": list(holiday)}


def personal_data_export(*, user) -> dict[str, Any]:
    """Everything stored about the user (Art. 15 GDPR), as one machine-readable document.

    Only rows that belong to her: her account and profile, applications she submitted (with
    their data, status history, metadata of their documents, representation),
    representations she made, audit entries she caused or that are about her account or her
    applications, exchange registrations and her data subject requests. Internal staff notes
    are left out (Art. 15(4): the rights of others; they are working papers of the office).
    """
    from rathaus.applications.models import Application, Representation
    from rathaus.cases.models import Confidentiality, Document
    from rathaus.core.models import AuditEntry
    from rathaus.exchanges.models import ChildRegistration, HolidayRegistration, ProviderMember

    profile = profile_for(user=user)
    applications = list(Application.objects.filter(applicant=user).select_related("service", "municipality", "form")
                        .prefetch_related("history").order_by("submitted_at", "id"))
    app_ids = [a.pk for a in applications]
    representations = {r.application_id: r for r in Representation.objects.filter(application_id__in=app_ids)}
    documents: dict[int, list] = {}
    # Documents she handed in or may see; internal working papers of the office are not hers to read.
    visible = Q(confidentiality=Confidentiality.PUBLIC) | Q(source__startswith="citizen")
    for document in (Document.objects.filter(visible, application_id__in=app_ids).prefetch_related("versions")
                     .order_by("id")):
        documents.setdefault(document.application_id, []).append(document)
    audit = (AuditEntry.objects.filter(
        Q(actor=user) | Q(object_type="accounts.user", object_id=str(user.pk))
        | Q(object_type="applications.application", object_id__in=[str(pk) for pk in app_ids]))
        .select_related("municipality").order_by("id"))
    return {
        "format": "rathaus-personal-data/1",
        "created_at": timezone.now().isoformat(),
        "account": {
            "username": user.get_username(), "email": user.email, "email_verified": user.email_verified,
            "first_name": user.first_name, "last_name": user.last_name,
            "date_joined": user.date_joined.isoformat(), "last_login": user.last_login.isoformat() if user.last_login else None,
            "staff_of": [m.municipality.slug for m in user.memberships.select_related("municipality")],
        },
        "profile": {key: value for key, value in profile.as_prefill().items()
                    if key not in ("given_name", "family_name", "email")},
        "applications": [_application_export(a, representations.get(a.pk), documents.get(a.pk, [])) for a in applications],
        "representations_made": [
            {"municipality": r.municipality.slug, "application": r.application.reference, **_representation_export(r)}
            for r in Representation.objects.filter(representative_user=user).exclude(application_id__in=app_ids)
            .select_related("municipality", "application")],
        "exchanges": {
            "daycare_registrations": [
                {"municipality": r.municipality.slug, "reference": r.reference, "child_first_name": r.child_first_name,
                 "child_last_name": r.child_last_name, "birth_date": r.birth_date.isoformat(),
                 "desired_start": r.desired_start.isoformat(), "care_hours": r.care_hours, "group_kind": r.group_kind,
                 "single_parent": r.single_parent, "parents_working": r.parents_working,
                 "special_needs": r.special_needs, "status": r.status, "created_at": r.created_at.isoformat(),
                 "wishes": [{"rank": w.rank, "facility": w.facility.name} for w in r.wishes.all()]}
                for r in ChildRegistration.objects.filter(parent=user).select_related("municipality")
                .prefetch_related("wishes__facility")],
            "holiday_registrations": [
                {"municipality": r.municipality.slug, "programme": r.programme.name, "child_first_name": r.child_first_name,
                 "child_last_name": r.child_last_name, "birth_date": r.birth_date.isoformat(),
                 "emergency_phone": r.emergency_phone, "notes": r.notes, "max_activities": r.max_activities,
                 "status": r.status, "created_at": r.created_at.isoformat(),
                 "wishes": [{"rank": w.rank, "activity": w.activity.title} for w in r.wishes.all()],
                 "placements": [{"activity": p.activity.title, "status": p.status} for p in r.placements.all()]}
                for r in HolidayRegistration.objects.filter(parent=user).select_related("municipality", "programme")
                .prefetch_related("wishes__activity", "placements__activity")],
            "provider_memberships": [{"municipality": m.municipality.slug, "provider": m.provider.name}
                                     for m in ProviderMember.objects.filter(user=user).select_related("municipality", "provider")],
        },
        # No participation module stores personal data yet; the key stays so the format is stable.
        "participation": [],
        "data_subject_requests": [
            {"reference": r.reference, "municipality": r.municipality.slug, "kind": r.kind, "state": r.state,
             "reason": r.reason, "created_at": r.created_at.isoformat(), "due_date": r.due_date.isoformat(),
             "closed_at": r.closed_at.isoformat() if r.closed_at else None, "answer": r.outcome_text}
            for r in data_requests_for_user(user=user)],
        "audit": [
            {"at": e.created_at.isoformat(), "municipality": e.municipality.slug if e.municipality else None,
             "action": e.action, "object": f"{e.object_type}:{e.object_id}" if e.object_type else "",
             "by_you": e.actor_id == user.pk, "ip_address": e.ip_address if e.actor_id == user.pk else None}
            for e in audit],
    }


def _application_export(application, representation, documents) -> dict[str, Any]:
    from rathaus.cases.models import Confidentiality

    return {
        "municipality": application.municipality.slug, "reference": application.reference,
        "service": application.service.name, "status": application.status, "channel": application.channel,
        "submitted_at": application.submitted_at.isoformat(),
        "closed_at": application.closed_at.isoformat() if application.closed_at else None,
        "anonymised_at": application.anonymised_at.isoformat() if application.anonymised_at else None,
        "applicant_name": application.applicant_name, "applicant_email": application.applicant_email,
        "data": application.data,
        # The same data as people read it (the receipt's labels, steps and repeats), for the PDF.
        "summary": FormSpec.from_schema(application.form.schema).summary(application.data),
        "status_history": [{"status": h.status, "text": h.public_text, "at": h.created_at.isoformat()}
                           for h in application.history.all()],
        # Each document marked for her is linked for download and lies in the ZIP archive at "in_archive".
        "documents": [{"title": d.title, "type": d.document_type, "source": d.source, "form_field": d.form_field,
                       "created_at": d.created_at.isoformat(),
                       "download": reverse("cases:my_download", kwargs={
                           "municipality": application.municipality.slug, "reference": application.reference,
                           "document_id": d.pk}) if d.confidentiality == Confidentiality.PUBLIC else None,
                       "in_archive": archive_path(application, d, _latest(d))
                       if d.confidentiality == Confidentiality.PUBLIC and _latest(d) is not None else None,
                       "versions": [{"number": v.number, "filename": v.filename, "content_type": v.content_type,
                                     "size": v.size, "sha512": v.sha512, "added_at": v.created_at.isoformat()}
                                    for v in d.versions.all()]}
                      for d in documents],
        "representation": _representation_export(representation) if representation else None,
    }


def _latest(document):
    """The newest version (the one a download gives), from the prefetched versions."""
    return max(document.versions.all(), key=lambda version: version.number, default=None)


def archive_path(application, document, version) -> str:
    """Where a document's file lies in the ZIP archive of her data."""
    return f"dateien/{application.reference}/{document.pk}-{version.filename}"


def personal_data_files(*, user) -> list[tuple[str, Any]]:
    """The files for the ZIP archive: per application of hers, each document marked for her (newest version)."""
    from rathaus.cases.models import Confidentiality, Document

    documents = (Document.objects.filter(application__applicant=user, confidentiality=Confidentiality.PUBLIC)
                 .select_related("application").prefetch_related("versions").order_by("application_id", "id"))
    return [(archive_path(d.application, d, version), version) for d in documents if (version := _latest(d)) is not None]


def _representation_export(representation) -> dict[str, Any]:
    return {
        "kind": representation.kind, "representative_name": representation.representative_name,
        "representative_email": representation.representative_email, "principal_name": representation.principal_name,
        "principal_birth_date": representation.principal_birth_date.isoformat() if representation.principal_birth_date else None,
        "principal_register_number": representation.principal_register_number,
        "principal_address": representation.principal_address,
    }
