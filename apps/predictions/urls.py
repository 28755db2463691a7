from django.urls import path

from apps.predictions import views

urlpatterns = [
    path("p/<str:prediction_id>", views.prediction_detail, name="prediction_detail"),
    path("p/<str:prediction_id>/cancel", views.prediction_cancel_view, name="prediction_cancel"),
    path("p/<str:prediction_id>/share", views.prediction_share, name="prediction_share"),
    path("<str:owner>/<str:name>/predictions", views.playground_run, name="playground_run"),
]
