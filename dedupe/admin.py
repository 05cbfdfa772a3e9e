"""Admin: sources are configured here; history is shown read-only, never edited."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from .models import AttachmentChange, AuditEvent, ImportProblem, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "sensitivity", "keeps", "write_access", "near_radius", "verify_radius")
    readonly_fields = ("slug",)

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None) -> tuple[str, ...]:
        return tuple(self.readonly_fields) if obj else ()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "action", "actor_name", "actor_role", "request_id", "task_id")
    list_filter = ("action", "actor_role")
    search_fields = ("actor_name", "reason")


@admin.register(AttachmentChange)
class AttachmentChangeAdmin(ReadOnlyAdmin):
    list_display = ("attachment", "at", "from_state", "to_state", "reason")


@admin.register(ImportProblem)
class ImportProblemAdmin(ReadOnlyAdmin):
    list_display = ("run", "row", "path", "reason")
