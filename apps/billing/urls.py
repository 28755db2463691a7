from django.urls import path

from apps.billing import views

urlpatterns = [
    path("account/usage", views.usage_page, name="usage"),
    path("account/billing", views.billing_page, name="billing"),
    path("account/billing/invoices/draft", views.invoice_draft, name="invoice_draft"),
    path("account/billing/invoices/<str:number>", views.invoice_page, name="invoice"),
    path("pricing", views.pricing, name="pricing"),
]
