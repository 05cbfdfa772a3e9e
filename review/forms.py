"""The desk's POSTs as Django forms: what each accepts is declared once, and bad input is refused
with a message instead of being guessed at (lengths match the pages' `maxlength`)."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

NOTE_LENGTH = 2000
RESTORE_NOTE_LENGTH = 500


class IdListField(forms.Field):
    """Ids from repeated fields (`?exclude=1&exclude=2`) or one comma-separated value ("1,2")."""

    widget: type[forms.Widget] = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value or ""]
        parts = [part.strip() for item in values for part in str(item).split(",") if part.strip()]
        if not all(part.isdigit() for part in parts):
            raise ValidationError("ids must be whole numbers", code="invalid")
        return [int(part) for part in parts]


class CommaIdsField(IdListField):
    widget = forms.HiddenInput


class DecisionForm(forms.Form):
    """One verdict on one pair; the service checks that the verdict and its details fit together."""

    verdict = forms.CharField(max_length=32)
    seen = forms.IntegerField(min_value=0)  # the last decision the form knew of: stale forms are refused
    canonical = forms.IntegerField(required=False)
    reason = forms.CharField(max_length=64, required=False)
    wrong_attachment = forms.IntegerField(required=False)
    note = forms.CharField(max_length=NOTE_LENGTH, required=False)


class GroupDecisionForm(forms.Form):
    seen = CommaIdsField()  # the members the page showed
    canonical = forms.IntegerField()
    exclude = IdListField(required=False)
    note = forms.CharField(max_length=NOTE_LENGTH, required=False)
    addresses_checked = forms.BooleanField(required=False)  # asked for when members' addresses conflict


CHOOSE = "Choose the image to restore."


class RestoreForm(forms.Form):
    asset = forms.IntegerField(min_value=1, error_messages=dict.fromkeys(("required", "invalid", "min_value"), CHOOSE))
    note = forms.CharField(max_length=RESTORE_NOTE_LENGTH, required=False)


class AssignmentForm(forms.Form):
    """Pairs to hand to one reviewer; no reviewer puts them back in the common queue."""

    candidate = IdListField(required=False)
    reviewer = forms.CharField(max_length=150, required=False)
    next = forms.CharField(max_length=2000, required=False)


def first_error(form: forms.Form, plain: tuple[str, ...] = ()) -> str:
    """The first problem, as a sentence for the person ("note: Ensure this value has at most...");
    fields in `plain` carry messages written as whole sentences, shown without the field's name."""
    for field, errors in form.errors.items():
        return str(errors[0]) if field in plain or field == "__all__" else f"{field}: {errors[0]}"
    return ""
