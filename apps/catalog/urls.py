from django.urls import path

from apps.catalog import views

model = "<str:owner>/<str:name>"

# The Playground, API and Examples tabs are in apps/predictions/urls.py.
urlpatterns = [
    path(model + "/readme", views.model_readme, name="model_readme"),
    path(model + "/versions", views.model_versions, name="model_versions"),
    path(model + "/versions/<str:digest>", views.version_detail, name="version"),
    path(model + "/settings", views.model_settings, name="model_settings"),
    path(model + "/settings/push", views.model_push, name="model_push"),
]
