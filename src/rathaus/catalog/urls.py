from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.index, name="index"),
    path("leistungen/<slug:service>/", views.detail, name="detail"),
    path("verwaltung/leistungen/<slug:service>/", views.service_edit, name="service_edit"),
]
