"""The Content-Security-Policy header: on pages, strict; responses with a policy of their own
(files served for download) keep it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

EXPECTED = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self' ws: wss:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def directives(response) -> list[str]:
    return [part.strip() for part in response["Content-Security-Policy"].split(";")]


def test_it_sends_the_policy_with_pages(client):
    for path in ("/", "/login/", "/no-such-page", "/v1/docs"):
        response = client.get(path)
        assert set(EXPECTED) <= set(directives(response)), path
        assert "unsafe" not in response["Content-Security-Policy"], path


def test_it_leaves_a_policy_set_by_the_view_alone(client, cast):
    page = SimpleUploadedFile("page.html", b"<script>alert(1)</script>", content_type="text/html")
    upload = client.post("/v1/files", {"content": page}, **cast.alice.auth())
    download = client.get(upload.json()["urls"]["get"])
    assert download.status_code == 200
    assert download["Content-Security-Policy"] == "sandbox"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:a-z-]*)\s*=", re.I)
INLINE_STYLE = re.compile(r"<style|\sstyle\s*=", re.I)


def test_it_finds_no_inline_script_style_or_event_handler_in_templates():
    """What the policy would block: the pages must not need it."""
    for template in (settings.BASE_DIR / "templates").rglob("*.html"):
        html = template.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, INLINE_STYLE):
            assert not pattern.search(html), f"{template}: {pattern.search(html).group()}"
