from django.contrib import admin

from apps.catalog.models import Collection, Model, Version


class VersionInline(admin.TabularInline):
    model = Version
    extra = 0
    fields = ["digest", "cog_version", "setup_status", "created_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # versions come from pushes


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = [
        "full_name",
        "visibility",
        "featured",
        "run_count",
        "default_hardware",
        "price_unit",
        "unit_price",
        "created_at",
    ]
    list_filter = ["visibility", "featured", "default_hardware", "price_unit"]
    list_editable = ["featured"]
    search_fields = ["name", "owner__name", "description"]
    raw_id_fields = ["owner", "latest_version"]
    readonly_fields = ["run_count", "created_at", "updated_at"]
    inlines = [VersionInline]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "cog_version", "setup_status", "artifact_size", "created_at"]
    list_filter = ["setup_status", "cog_version"]
    search_fields = ["digest", "model__name", "model__owner__name"]
    readonly_fields = [f.name for f in Version._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["models"]
    search_fields = ["name", "slug"]
