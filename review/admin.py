from django.contrib import admin

from .models import SourceAssignment


@admin.register(SourceAssignment)
class SourceAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "source", "assigned_at")
    list_filter = ("source",)
