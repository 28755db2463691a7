"""Content-Security-Policy for every response that does not set its own.

Pages load scripts and styles from our own static files only (no inline script, no inline
style, no eval; htmx's indicator styles live in site.css), so an injected tag or attribute
does nothing. Django 5.2 has no CSP support of its own (6.0 has).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware


def header_value(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}".strip() for directive, sources in policy.items())


@sync_and_async_middleware
def content_security_policy(get_response):
    value = header_value(settings.CONTENT_SECURITY_POLICY)

    def apply(response):
        # Django's debug pages (DEBUG only) are made of inline styles and scripts.
        if "Content-Security-Policy" not in response and not (
            settings.DEBUG and response.status_code >= 400
        ):
            response["Content-Security-Policy"] = value
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return apply(await get_response(request))

    else:

        def middleware(request):
            return apply(get_response(request))

    return middleware
