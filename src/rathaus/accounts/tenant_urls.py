"""Staff pages of accounts inside a municipality (mounted under m/<slug>/): data subject requests."""

from django.urls import path

from . import views

app_name = "dataprotection"
urlpatterns = [
    path("verwaltung/datenschutz/", views.data_requests, name="list"),
    path("verwaltung/datenschutz/<int:pk>/", views.data_request_detail, name="detail"),
]
