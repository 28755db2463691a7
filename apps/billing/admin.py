from django.contrib import admin
from django.db.models import Sum

from apps.billing.models import (
    BillingProfile,
    Hardware,
    Invoice,
    InvoiceLine,
    SpendAlert,
    UsageRecord,
)


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    """Prices apply from the moment they are saved: recorded usage keeps its own price."""

    list_display = ["sku", "name", "price_per_second", "price_per_hour", "gpu_count", "available"]
    list_filter = ["available", "gpu_count"]
    list_editable = ["available"]
    search_fields = ["sku", "name"]


class ReadOnly(admin.ModelAdmin):
    """The ledger is written by the platform only: the admin reads it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnly):
    list_display = ["ended_at", "account", "month", "kind", "model", "deployment", "hardware",
                    "basis", "seconds", "units", "amount"]  # fmt: skip
    list_filter = ["month", "kind", "basis", "hardware"]
    search_fields = ["account__name", "model", "deployment", "object_id"]
    date_hierarchy = "ended_at"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        try:
            rows = response.context_data["cl"].queryset
        except (AttributeError, KeyError):
            return response
        response.context_data["total_amount"] = rows.aggregate(total=Sum("amount"))["total"]
        return response


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ["account", "spend_limit", "updated_at"]
    search_fields = ["account__name"]
    raw_id_fields = ["account"]


@admin.register(SpendAlert)
class SpendAlertAdmin(ReadOnly):
    list_display = ["created_at", "account", "month", "threshold", "spent", "limit", "emailed_to"]
    list_filter = ["month", "threshold"]
    search_fields = ["account__name"]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["description", "quantity", "unit", "records", "exact_amount", "amount"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnly):
    list_display = ["number", "account", "month", "status", "total", "records", "finalized_at"]
    list_filter = ["status", "month"]
    search_fields = ["number", "account__name"]
    inlines = [InvoiceLineInline]
