from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from dedupe.actions import Action, Subject
from dedupe.admin import ReadOnlyAdmin
from dedupe.audit import audit_record
from dedupe.models import Source

from .keeper import RULES, rule_names_unknown
from .models import (
    ApiToken,
    Decision,
    GatePolicy,
    KeeperPolicy,
    LegalHold,
    Merge,
    Purge,
    SourceAssignment,
    WebhookDelivery,
    WebhookEndpoint,
)
from .services.api_tokens import TokenRefused, api_token_create, api_token_revoke, token_sources
from .services.webhooks import webhook_create, webhook_replay


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


class ApiTokenCreateForm(forms.ModelForm):
    writes = forms.ModelMultipleChoiceField(
        Source.objects.all(), required=False, help_text="Sources it reads and writes."
    )
    reads = forms.ModelMultipleChoiceField(Source.objects.all(), required=False, help_text="Sources it only reads.")

    class Meta:
        model = ApiToken
        fields = ("name", "requests_per_minute", "max_upload_bytes")

    def clean(self) -> dict:
        data = super().clean() or {}
        if not data.get("writes") and not data.get("reads"):
            raise forms.ValidationError("Give the token at least one source.")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created (the token shown once, here) and revoked; never edited or deleted."""

    list_display = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    actions = ["revoke"]
    readonly_fields = ("name", "prefix", "requests_per_minute", "max_upload_bytes", "created_by", "created_at",
                       "last_used_at", "revoked_at")  # fmt: skip

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ("name", "writes", "reads", "requests_per_minute",
                                                             "max_upload_bytes")  # fmt: skip

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        try:
            token, secret = api_token_create(
                name=obj.name,
                sources=[s.slug for s in form.cleaned_data["writes"]],
                read_only=[s.slug for s in form.cleaned_data["reads"]],
                actor=request.user,
                requests_per_minute=obj.requests_per_minute,
                max_upload_bytes=obj.max_upload_bytes,
            )
        except TokenRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk, obj.prefix, obj.digest = token.pk, token.prefix, token.digest
        messages.warning(request, f"The token for {token.name}, shown this once; keep it now: {secret}")

    def save_related(self, request, form, formsets, change) -> None:
        """The sources were saved with the token by api_token_create."""

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset) -> None:
        done = sum(api_token_revoke(token, actor=request.user) for token in queryset)
        messages.info(request, f"{done} token(s) revoked.")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class GatePolicyForm(forms.ModelForm):
    class Meta:
        model = GatePolicy
        fields = ("source", "exact", "pixel", "near")

    def clean_near(self) -> str:
        near = self.cleaned_data["near"]
        if near == GatePolicy.Action.ATTACH:
            raise forms.ValidationError(
                "A near match is not proven the same photograph: store it for review or refuse."
            )
        return near


@admin.register(GatePolicy)
class GatePolicyAdmin(admin.ModelAdmin):
    """What the gate does with copies for each source; each change is an audit event."""

    form = GatePolicyForm
    list_display = ("source", "exact", "pixel", "near")

    def save_model(self, request, obj, form, change) -> None:
        fields = ("exact", "pixel", "near")
        before = {f: form.initial.get(f) for f in fields} if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                action=Action.GATE_POLICY,
                actor=request.user,
                subjects=[(Subject.SOURCE, obj.source.slug)],
                before=before,
                after={f: getattr(obj, f) for f in fields},
            )


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where the changes are POSTed.")

    class Meta:
        model = WebhookEndpoint
        fields = ("token", "source", "url", "active")

    def clean(self) -> dict:
        data = super().clean() or {}
        token, source = data.get("token"), data.get("source")
        if token and source and source.slug not in token_sources(token, write=False):
            raise forms.ValidationError(f"{token.name} may not read {source.slug}: its webhook could not either.")
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are created (the signing secret shown once) and switched off; never deleted."""

    form = WebhookEndpointForm
    list_display = ("token", "source", "url", "active", "cursor", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return ("token", "source", "url", "cursor") if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        endpoint, secret = webhook_create(token=obj.token, source=obj.source, url=obj.url, actor=request.user)
        obj.pk, obj.secret, obj.cursor = endpoint.pk, endpoint.secret, endpoint.cursor
        messages.warning(request, f"The signing secret of this webhook, shown this once: {secret}")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: what was sent, how often, what the receiver answered; replayable."""

    list_display = (
        "pk",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "endpoint")
    actions = ["replay"]

    @admin.action(description="Send the selected deliveries again")
    def replay(self, request: HttpRequest, queryset) -> None:
        for delivery in queryset:
            webhook_replay(delivery, actor=request.user)
        messages.info(request, f"{queryset.count()} delivery(ies) queued again.")

    def has_change_permission(self, request, obj=None) -> bool:
        return False
