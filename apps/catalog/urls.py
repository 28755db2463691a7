from django.urls import path

from apps.catalog import views

model = "<str:owner>/<str:name>"

urlpatterns = [
    path(model, views.model_detail, name="model"),
    path(model + "/api", views.model_api, name="model_api"),
    path(model + "/api/<str:language>", views.model_api, name="model_api_language"),
    path(model + "/examples", views.model_examples, name="model_examples"),
    path(model + "/readme", views.model_readme, name="model_readme"),
    path(model + "/versions", views.model_versions, name="model_versions"),
    path(model + "/versions/<str:digest>", views.version_detail, name="version"),
    path(model + "/settings", views.model_settings, name="model_settings"),
    path(model + "/settings/push", views.model_push, name="model_push"),
]
