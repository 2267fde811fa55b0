from django.contrib import admin

from rathaus.core.admin import AuditedAdminMixin, AuditedModelAdmin

from .models import LifeSituation, Service

admin.site.register(LifeSituation, AuditedModelAdmin)


@admin.register(Service)
class ServiceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "municipality", "leika_key", "is_published")
    list_filter = ("municipality", "is_published")
    search_fields = ("name", "leika_key")
    audit_values = ("slug", "is_published", "retention_days", "remedy")
