from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter(name="bytes")
def bytes_(value: int | None) -> str:
    """Byte counts as people read them; nothing stored reads as 0 bytes, not as blank."""
    return filesizeformat(value or 0)
