from django.contrib import admin

from .models import Document, DocumentRequest, DocumentVersion, LegalHold, RetentionRule


class VersionInline(admin.TabularInline):
    model = DocumentVersion
    extra = 0
    readonly_fields = ("number", "file", "original_filename", "filename", "content_type", "size", "sha512", "added_by",
                       "created_at")
    can_delete = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "application", "document_type", "confidentiality", "source", "created_at")
    list_filter = ("document_type", "confidentiality", "source", "municipality")
    inlines = [VersionInline]
    readonly_fields = ("application", "idempotency_key", "request", "created_by")


admin.site.register(DocumentRequest)
admin.site.register(LegalHold)
admin.site.register(RetentionRule)
