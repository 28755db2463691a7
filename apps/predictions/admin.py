from django.contrib import admin

from apps.predictions.models import Prediction


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model",
        "owner",
        "kind",
        "status",
        "source",
        "is_example",
        "created_at",
        "completed_at",
    ]
    list_filter = ["kind", "status", "source", "is_example"]
    search_fields = ["id", "model__name", "owner__name"]
    raw_id_fields = ["owner", "created_by", "model", "version", "destination", "trained_version"]
    readonly_fields = ["id", "created_at", "started_at", "completed_at", "metrics"]
    list_select_related = ["model__owner", "owner"]
