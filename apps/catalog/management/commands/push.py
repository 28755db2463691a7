"""`manage.py push owner/name path/to/model`: the `cog push` of this platform."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Account
from apps.billing.models import Hardware
from apps.catalog.models import Model
from apps.catalog.services import PushError, model_create, version_push


class Command(BaseCommand):
    help = "Push a Cog model directory as a new version of owner/name (created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("model", help="owner/name")
        parser.add_argument("path", type=Path, help="the model directory (with cog.yaml)")
        parser.add_argument("--visibility", choices=["public", "private"], default=None)
        parser.add_argument("--description", default=None)
        parser.add_argument("--hardware", default=None, help="hardware SKU, e.g. cpu")
        parser.add_argument("--quiet", action="store_true", help="print only the version id")

    def handle(self, *args, model, path, visibility, description, hardware, quiet, **options):
        owner_name, sep, name = model.partition("/")
        if not sep or not owner_name or not name:
            raise CommandError("name the model as owner/name")
        owner = Account.objects.filter(name__iexact=owner_name).first()
        if owner is None:
            raise CommandError(f"no user or organization called {owner_name!r}")
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory")
        target = Model.objects.filter(owner=owner, name__iexact=name).first()
        if target is None:
            readme = path / "README.md"
            try:
                target = model_create(
                    owner=owner,
                    name=name,
                    visibility=visibility or "public",
                    description=description or "",
                    readme=readme.read_text() if readme.is_file() else "",
                    default_hardware=Hardware.objects.filter(sku=hardware or "cpu").first(),
                )
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        log = None if quiet else (lambda line: self.stdout.write(line))
        try:
            version, created = version_push(model=target, source_dir=path, log=log)
        except PushError as error:
            detail = f"\n{error.details}" if error.details else ""
            raise CommandError(f"{error}{detail}") from None
        self.stdout.write(
            version.digest
            if quiet
            else f"{'Created' if created else 'Unchanged'}: {target.full_name}:{version.digest}"
        )
