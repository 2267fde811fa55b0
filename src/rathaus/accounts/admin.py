from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import router, transaction

from rathaus.core.admin import AuditedAdminMixin

from .forms import StaffUserCreationForm
from .models import Membership, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ("username", "email", "first_name", "last_name", "email_verified", "is_staff")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Rathaus", {"fields": ("email_verified",)}))
    # E-mail is unique and required on the model: without it here the second new account failed.
    add_form = StaffUserCreationForm
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),)
    # Rights, not personal data: what a reviewer of the trail must see changed.
    audit_values = ("is_active", "is_staff", "is_superuser")
    audit_inline_values = {"accounts.membership": ("user", "role")}

    def user_change_password(self, request, id, form_url=""):
        # Django's password form saves outside a transaction; the audit entry must commit with it.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().user_change_password(request, id, form_url)
