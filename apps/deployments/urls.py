from django.urls import path

from apps.deployments import views

deployment = "deployments/<str:owner>/<str:name>"

urlpatterns = [
    path("deployments", views.deployment_list, name="deployments"),
    path("deployments/create", views.deployment_create, name="deployment_create"),
    path("deployments/estimate", views.deployment_estimate, name="deployment_estimate"),
    path(deployment, views.deployment_detail, name="deployment"),
    path(deployment + "/instances", views.deployment_instances, name="deployment_instances"),
    path(deployment + "/predictions", views.deployment_run, name="deployment_run"),
    path(deployment + "/settings", views.deployment_settings, name="deployment_settings"),
    path(deployment + "/rollback", views.deployment_rollback, name="deployment_rollback"),
    path(deployment + "/disable", views.deployment_disable, name="deployment_disable"),
    path(deployment + "/delete", views.deployment_delete, name="deployment_delete"),
]
