"""Lint, formatting and migrations are part of the suite, so CI catches them."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

from django.conf import settings
from django.core.management import call_command


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=settings.BASE_DIR, capture_output=True, text=True)


def test_ruff_finds_no_problems():
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted():
    result = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_and_migrations_agree(db):
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        raise AssertionError(f"missing migrations:\n{out.getvalue()}") from None


def test_platform_is_not_a_python_package():
    assert not (settings.BASE_DIR / "platform" / "__init__.py").exists()
