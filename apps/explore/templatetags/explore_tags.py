from __future__ import annotations

from django import template

from apps.explore.forms import SOURCE_LABELS

register = template.Library()


@register.filter
def seconds(value) -> str:
    """A run time for people: `0.42s`, `12.3s`, `2m 05s`, `1h 02m`."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def source_label(value: str) -> str:
    return SOURCE_LABELS.get(value, value)
