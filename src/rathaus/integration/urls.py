from django.urls import path

from . import token_views, views

app_name = "integration"

urlpatterns: list = [
    path("verwaltung/anbindung/", views.subscriptions, name="subscriptions"),
    path("verwaltung/api-zugaenge/", token_views.tokens, name="tokens"),
    path("verwaltung/anbindung/zustellungen/", views.deliveries, name="deliveries"),
    path("verwaltung/antraege/<str:reference>/zustellungen/", views.case_deliveries, name="case_deliveries"),
]
