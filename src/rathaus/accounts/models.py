"""Users (citizens and staff) and staff memberships in municipalities."""

from django.contrib.auth.models import AbstractUser
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
