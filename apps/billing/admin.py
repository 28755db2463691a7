from django.contrib import admin

from apps.billing.models import Hardware


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price_per_second", "price_per_hour", "gpu_count", "available"]
    list_filter = ["available", "gpu_count"]
    list_editable = ["available"]
    search_fields = ["sku", "name"]
