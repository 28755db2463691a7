from django.contrib import admin
from django.utils import timezone

from apps.files.models import File


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "content_type", "size", "created_at", "expires_at"]
    list_filter = ["created_at", "expires_at", "content_type"]
    search_fields = ["id", "name", "owner__name", "sha256", "md5"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "content", "size", "sha256", "md5", "created_at", "is_expired"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # files come from the API

    @admin.display(boolean=True, description="expired")
    def is_expired(self, obj: File) -> bool:
        return obj.is_expired(timezone.now())
