from django import forms
from django.contrib import admin

from dedupe.admin import ReadOnlyAdmin

from .keeper import RULES, rule_names_unknown
from .models import Decision, KeeperPolicy, LegalHold, Merge, Purge, SourceAssignment


@admin.register(SourceAssignment)
class SourceAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "source", "assigned_at")
    list_filter = ("source",)


class KeeperPolicyForm(forms.ModelForm):
    class Meta:
        model = KeeperPolicy
        fields = ("source", "rules")

    def clean_rules(self) -> list[str]:
        rules = self.cleaned_data["rules"]
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise forms.ValidationError('Give a list of rule names, for example ["source:permits", "most_pixels"].')
        unknown = rule_names_unknown(rules)
        if unknown:
            raise forms.ValidationError(
                f"Unknown rule(s): {', '.join(unknown)}. Rules are source:SLUG, {', '.join(RULES)}."
            )
        return rules


@admin.register(KeeperPolicy)
class KeeperPolicyAdmin(admin.ModelAdmin):
    form = KeeperPolicyForm
    list_display = ("source", "rules")


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Holds are placed and lifted, never deleted: the lifted ones explain past refusals."""

    list_display = ("__str__", "reason", "placed_by", "placed_at", "lifted_at")
    list_filter = ("lifted_at",)
    fields = ("source", "record", "asset", "reason", "lifted_at")
    raw_id_fields = ("record", "asset")

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.placed_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Decisions, merges and purges change only through the services, which audit them.
@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "candidate", "verdict", "status", "decided_by", "decided_at")
    list_filter = ("verdict", "status")


@admin.register(Merge)
class MergeAdmin(ReadOnlyAdmin):
    list_display = ("pk", "duplicate", "canonical", "at", "undone_at")


@admin.register(Purge)
class PurgeAdmin(ReadOnlyAdmin):
    list_display = ("asset", "source", "byte_size", "sha256", "at")
    list_filter = ("source",)
