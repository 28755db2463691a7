"""`manage.py purge_expired_files`: delete uploaded files past their expiry, rows and bytes."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.files.services import file_purge_expired


class Command(BaseCommand):
    help = "Delete files uploaded through the Files API whose 24 hours have passed."

    def handle(self, *args, **options):
        purged = file_purge_expired()
        self.stdout.write(f"Purged {purged} expired file{'' if purged == 1 else 's'}.")
