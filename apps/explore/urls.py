from django.urls import path

from apps.explore import views

urlpatterns = [
    path("", views.explore, name="home"),
    path("explore", views.explore, name="explore"),
    path("collections", views.collection_list, name="collections"),
    path("collections/<slug:slug>", views.collection_detail, name="collection"),
    path("dashboard", views.dashboard, name="dashboard"),
]
