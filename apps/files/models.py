"""Files uploaded through the Files API, kept for a day as inputs for predictions."""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import PurePath

from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from apps.accounts.models import Account

LIFETIME = timedelta(hours=24)


def new_file_id() -> str:
    """26 lowercase base32 characters of a random UUID (like Replicate's file ids)."""
    return base64.b32encode(uuid.uuid4().bytes).decode().lower().rstrip("=")


def storage_name(instance: File, filename: str) -> str:
    """`files/<random>/<name>`: the random folder keeps stored paths unguessable, and the
    original name (made safe) keeps its extension, which models often look at."""
    path = PurePath(filename.replace("\\", "/"))
    stem = re.sub(r"[^\w.-]", "_", path.stem, flags=re.ASCII)[:80].strip("._") or "file"
    suffix = re.sub(r"[^\w.]", "_", path.suffix, flags=re.ASCII)[:20]
    return f"files/{secrets.token_hex(16)}/{stem}{suffix}"


class File(models.Model):
    id = models.CharField(primary_key=True, max_length=26, default=new_file_id, editable=False)
    owner = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    md5 = models.CharField("MD5", max_length=32)
    metadata = models.JSONField(default=dict, blank=True)
    content = models.FileField(upload_to=storage_name, max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"

    def save(self, *args, **kwargs) -> None:
        if self.expires_at is None:
            self.expires_at = self.created_at + LIFETIME
        super().save(*args, **kwargs)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def etag(self) -> str:
        return self.md5


@receiver(post_delete, sender=File)
def delete_stored_content(sender, instance: File, **kwargs) -> None:
    # Whatever deletes the row (the API, the purge, the admin, a deleted account), the bytes
    # go too, but only once the deletion is committed.
    if instance.content.name:
        storage, name = instance.content.storage, instance.content.name
        transaction.on_commit(lambda: storage.delete(name))
