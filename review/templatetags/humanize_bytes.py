from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter(name="bytes")
def bytes_(value: int | None) -> str:
    """Byte counts as people read them; nothing stored reads as 0 bytes, not as blank."""
    return filesizeformat(value or 0)


@register.filter
def get_item(mapping: dict, key):
    """mapping[key] in a template (Django's lookups cannot use a variable as the key)."""
    return mapping.get(key) if mapping else None
