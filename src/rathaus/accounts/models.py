"""Users (citizens and staff) and staff memberships in municipalities."""

from django.contrib import auth
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import TenantModel


class User(AbstractUser):
    """A person with a login. Citizens have no membership; staff have one per municipality."""

    email = models.EmailField(_("E-Mail-Adresse"), unique=True)
    email_verified = models.BooleanField(_("E-Mail bestätigt"), default=False)

    class Meta(AbstractUser.Meta):
        verbose_name = _("Benutzerkonto")
        verbose_name_plural = _("Benutzerkonten")

    def __str__(self) -> str:
        return self.get_full_name() or self.email or self.username

    def has_perm(self, perm, obj=None) -> bool:
        """A municipality's rights (asked with the municipality as `obj`) come from a membership only.

        Django lets an active superuser pass every check. Superusers are the platform's operators:
        they keep the Django admin (asked without an object), but a town's cases, tasks and API
        are its staff's, as the staff pages already require a membership.
        """
        if obj is None:
            return super().has_perm(perm, obj)
        if not self.is_active:
            return False
        for backend in auth.get_backends():
            try:
                if hasattr(backend, "has_perm") and backend.has_perm(self, perm, obj):
                    return True
            except PermissionDenied:
                return False
        return False


class Role(models.TextChoices):
    CASE_WORKER = "case_worker", _("Sachbearbeitung")
    TEAM_LEAD = "team_lead", _("Teamleitung")
    TENANT_ADMIN = "tenant_admin", _("Administration der Kommune")


# Each role includes the rights of the roles before it.
ROLE_RANK = {Role.CASE_WORKER: 1, Role.TEAM_LEAD: 2, Role.TENANT_ADMIN: 3}


class Membership(TenantModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("Rolle"), max_length=20, choices=Role.choices, default=Role.CASE_WORKER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "municipality"], name="one_membership_per_tenant")]
        verbose_name = _("Mitgliedschaft")
        verbose_name_plural = _("Mitgliedschaften")

    def __str__(self) -> str:
        return f"{self.user} @ {self.municipality_id} ({self.role})"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class Profile(models.Model):
    """What a citizen keeps with her account to fill forms once-only (name and e-mail live on User)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    birth_date = models.DateField(_("Geburtsdatum"), null=True, blank=True)
    street = models.CharField(_("Straße"), max_length=100, blank=True)
    house_number = models.CharField(_("Hausnummer"), max_length=10, blank=True)
    postal_code = models.CharField(_("Postleitzahl"), max_length=5, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    phone = models.CharField(_("Telefon"), max_length=30, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Persönliche Daten")
        verbose_name_plural = _("Persönliche Daten")

    def __str__(self) -> str:
        return str(self.user)

    def as_prefill(self) -> dict[str, str]:
        """The profile as the plain mapping the form prefill reads (rathaus_domain.forms.prefill)."""
        return {
            "given_name": self.user.first_name, "family_name": self.user.last_name, "email": self.user.email,
            "birth_date": self.birth_date.isoformat() if self.birth_date else "",
            "street": self.street, "house_number": self.house_number, "postal_code": self.postal_code,
            "city": self.city, "phone": self.phone,
        }


class AssistanceCode(models.Model):
    """A citizen's consent, for a short time, to staff filling a form with her account's data.

    She makes it on "Meine Daten" and tells it to the person helping her at the office; only its
    keyed hash is stored. One per account (a new one replaces the old); it is deleted when used
    or after too many wrong tries.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="assistance_code")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Freigabecode")
        verbose_name_plural = _("Freigabecodes")

    def __str__(self) -> str:
        return str(self.user)


class RequestKind(models.TextChoices):
    ERASURE = "erasure", _("Löschung (Art. 17 DSGVO)")


class RequestState(models.TextChoices):
    OPEN = "open", _("Offen")
    DONE = "done", _("Erledigt")
    REFUSED = "refused", _("Abgelehnt")


class DataSubjectRequest(TenantModel):
    """A citizen's request under the GDPR to one municipality that holds data about her.

    Asking once creates one request per municipality: each is its own controller, decides on its
    own and answers within one month (Art. 12(3) GDPR). Name and address are kept as stated, so
    the answer reaches her even when the account is gone.
    """

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="data_subject_requests",
                             verbose_name=_("Konto"))
    kind = models.CharField(_("Art"), max_length=10, choices=RequestKind.choices, default=RequestKind.ERASURE)
    state = models.CharField(_("Stand"), max_length=8, choices=RequestState.choices, default=RequestState.OPEN, db_index=True)
    requester_name = models.CharField(_("Name"), max_length=200)
    requester_email = models.EmailField(_("E-Mail"))
    reason = models.TextField(_("Begründung der Person"), max_length=2000, blank=True)
    due_date = models.DateField(_("Antwort fällig bis"))
    created_at = models.DateTimeField(_("eingegangen am"), auto_now_add=True)
    closed_at = models.DateTimeField(_("erledigt am"), null=True, blank=True)
    closed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                  verbose_name=_("erledigt von"))
    outcome_text = models.TextField(_("Antwort an die Person"), max_length=4000, blank=True)
    # What was removed (counts per kind) or kept, for the answer and for accountability (Art. 5(2)).
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "user", "kind"], condition=models.Q(state="open"),
                                    name="one_open_data_request_per_tenant"),
        ]
        indexes = [models.Index(fields=["municipality", "state", "due_date"])]
        verbose_name = _("Datenschutz-Anfrage")
        verbose_name_plural = _("Datenschutz-Anfragen")

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"DS-{self.pk:06d}" if self.pk else "DS-?"

    @property
    def is_open(self) -> bool:
        return self.state == RequestState.OPEN
