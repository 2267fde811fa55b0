from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import CaseEvent, OutboxMessage, OutboxState, ProcessDefinition, ProcessInstance, Timer, UserTask
from .outbox import outbox_state, outbox_state_filter


@admin.register(ProcessDefinition)
class ProcessDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "version", "state", "municipality", "created_at")
    list_filter = ("state", "municipality")
    readonly_fields = ("files", "problems", "digest")


@admin.register(ProcessInstance)
class ProcessInstanceAdmin(admin.ModelAdmin):
    list_display = ("application", "definition", "status", "started_at", "completed_at")
    list_filter = ("status",)
    readonly_fields = ("state",)


admin.site.register(UserTask)
admin.site.register(Timer)


class OutboxStateFilter(admin.SimpleListFilter):
    title = _("Zustand")
    parameter_name = "zustand"

    def lookups(self, request, model_admin):
        return OutboxState.choices

    def queryset(self, request, queryset):
        if self.value() in OutboxState.values:
            return queryset.filter(outbox_state_filter(self.value()))
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "kind", "state", "municipality", "created_at", "sent_at", "attempts",
                    "cancelled_at")
    list_filter = (OutboxStateFilter, "kind", "municipality")
    search_fields = ("idempotency_key",)
    # Records, not settings: which process queued it, which letter it tells of, and a cancellation,
    # which is never undone.
    readonly_fields = ("state", "instance", "letter", "created_at", "cancelled_at", "cancel_reason")
    list_select_related = ("municipality",)

    @admin.display(description=_("Zustand"))
    def state(self, obj: OutboxMessage) -> str:
        return str(outbox_state(obj).label)


admin.site.register(CaseEvent)
