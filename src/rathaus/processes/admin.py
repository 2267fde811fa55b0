from django.contrib import admin

from .models import CaseEvent, OutboxMessage, ProcessDefinition, ProcessInstance, Timer, UserTask


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
admin.site.register(OutboxMessage)
admin.site.register(CaseEvent)
