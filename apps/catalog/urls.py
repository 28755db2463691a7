from django.urls import path

from apps.catalog import views

urlpatterns = [
    path("<str:owner>/<str:name>", views.model_detail, name="model"),
    path("<str:owner>/<str:name>/settings", views.model_settings, name="model_settings"),
    path("<str:owner>/<str:name>/settings/push", views.model_push, name="model_push"),
]
