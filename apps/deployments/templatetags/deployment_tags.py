from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration(value) -> str:
    """How long something has been up, for people: `42s`, `3m 05s`, `2h 10m`, `3d 4h`."""
    try:
        seconds = int(float(value))
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
