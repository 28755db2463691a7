"""Rules for account names: usernames and organization names share one namespace."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

NAME_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,37}[A-Za-z0-9])?"
NAME_RE = re.compile(rf"^{NAME_PATTERN}$")

# Names that would shadow a top-level URL of the site or the API, or mislead users.
RESERVED_NAMES = frozenset(
    [
        "about",
        "account",
        "accounts",
        "admin",
        "administrator",
        "api",
        "apps",
        "assets",
        "auth",
        "avatars",
        "billing",
        "blog",
        "changelog",
        "collections",
        "create",
        "dashboard",
        "deployments",
        "docs",
        "explore",
        "favicon.ico",
        "files",
        "healthz",
        "help",
        "home",
        "login",
        "logout",
        "media",
        "me",
        "models",
        "new",
        "organizations",
        "p",
        "password",
        "pricing",
        "privacy",
        "predictions",
        "readyz",
        "replicate",
        "robots.txt",
        "root",
        "search",
        "settings",
        "signup",
        "signin",
        "static",
        "status",
        "support",
        "system",
        "terms",
        "trainings",
        "v1",
        "v2",
        "www",
        "ws",
    ]
)


def validate_name_format(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValidationError(
            "Use 1 to 39 letters, digits, hyphens or underscores, starting and ending with a "
            "letter or digit.",
            code="invalid",
        )
    if name.lower() in RESERVED_NAMES:
        raise ValidationError(f"“{name}” is reserved. Please choose another name.", code="reserved")
