from django.urls import path

from . import views

app_name = "tenants"

urlpatterns = [
    path("verwaltung/bankverbindung/", views.bank_account, name="bank_account"),
    path("verwaltung/bescheide/", views.letter_settings, name="letter_settings"),
]
