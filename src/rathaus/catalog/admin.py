from django.contrib import admin

from .models import LifeSituation, Service

admin.site.register(LifeSituation)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "municipality", "leika_key", "is_published")
    list_filter = ("municipality", "is_published")
    search_fields = ("name", "leika_key")
