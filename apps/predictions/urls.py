from django.urls import path

from apps.predictions import model_tabs, train_tab, views

model = "<str:owner>/<str:name>"

urlpatterns = [
    path("p/<str:prediction_id>", views.prediction_detail, name="prediction_detail"),
    path("p/<str:prediction_id>/cancel", views.prediction_cancel_view, name="prediction_cancel"),
    path("p/<str:prediction_id>/share", views.prediction_share, name="prediction_share"),
    path(model + "/predictions", views.playground_run, name="playground_run"),
    # The model page's tabs that run and show predictions (the others are the catalog's).
    path(model, model_tabs.model_detail, name="model"),
    path(model + "/api", model_tabs.model_api, name="model_api"),
    path(model + "/api/<str:language>", model_tabs.model_api, name="model_api_language"),
    path(model + "/examples", model_tabs.model_examples, name="model_examples"),
    path(model + "/train", train_tab.model_train, name="model_train"),
]
