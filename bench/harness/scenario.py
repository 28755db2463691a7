"""Running one scenario script: its arguments, Django on a throwaway VAR_DIR, and the
account and models it measures with."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
BENCH_DIR = BASE_DIR / "bench"
PYTHON = sys.executable


# --- running a scenario ------------------------------------------------------------------


def arguments(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a handful of operations each")
    parser.add_argument("--json", type=Path, help="write the results here")
    if extra:
        extra(parser)
    return parser.parse_args()


# Variables that would point a benchmark at another database, Redis or folders: never used.
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "RUNTIME_WORK_DIR",
    "DRAMATIQ_NAMESPACE",
    "PUBLIC_URL",
)


def setup_django() -> None:
    """Django for this benchmark: the database and embedded Redis of a throwaway VAR_DIR."""
    if not os.environ.get("VAR_DIR"):
        raise SystemExit("set VAR_DIR to a throwaway folder (e.g. /tmp/bench-var): see bench/")
    if Path(os.environ["VAR_DIR"]).resolve().is_relative_to((BASE_DIR / "var").resolve()):
        raise SystemExit("VAR_DIR must not be the checkout's var/")
    for name in NOT_INHERITED:  # the processes we start inherit this environment
        os.environ.pop(name, None)
    os.environ.setdefault("EMBEDDED_REDIS_NAME", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SELFREP_BOOTSTRAP"] = "0"
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def bench_account(name: str = "bench"):
    """A user (get or create) and a fresh API token for it."""
    from apps.accounts import services
    from apps.accounts.models import User

    user = User.objects.filter(username=name).first()
    if user is None:
        user = services.user_create(username=name, password=None)
    _token, raw = services.token_create(account=user.account, name="bench", created_by=user)
    return user, raw


def push(account, name: str, source: Path, visibility: str = "public"):
    """A model and a version of `source` (the same content again returns the same version)."""
    from apps.catalog.models import Model
    from apps.catalog.services import version_push

    model = Model.objects.filter(owner=account, name=name).first()
    if model is None:
        model = Model.objects.create(owner=account, name=name, visibility=visibility)
    version, _created = version_push(model=model, source_dir=source)
    return version


def environment_for(version):
    from apps.runtime import environments
    from apps.runtime.cogyaml import pip_commands

    commands, _ = pip_commands(version.config.get("build") or {})
    return environments.ensure(
        list(version.requirements), log=lambda line: None, pip_commands=commands
    )
