from django.contrib import admin
from django.urls import include, path, re_path

from apps.core import views as core_views
from apps.predictions.sse import prediction_stream
from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/streams/<str:token>", prediction_stream, name="prediction_stream"),
    path("v1/", core_views.api_not_found),  # the bare prefix: a problem+json 404 too
    path("v1/", api.urls),
    re_path(r"^v1/.*$", core_views.api_not_found),
    path("healthz", core_views.healthz, name="healthz"),
    path("media/<path:path>", core_views.media, name="media"),
    path("", include("apps.accounts.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.explore.urls")),
    # Before the model page's `<owner>/<name>` patterns ("deployments" is a reserved name).
    path("", include("apps.deployments.urls")),
    path("", include("apps.predictions.urls")),
    path("", include("apps.catalog.urls")),
]
