from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("anmelden/", views.LoginView.as_view(), name="login"),
    path("abmelden/", views.logout_view, name="logout"),
    path("registrieren/", views.register, name="register"),
    path("bestaetigen/<str:token>/", views.verify_email, name="verify"),
    path("2fa/", views.otp_verify, name="otp"),
    path("2fa/einrichten/", views.otp_setup, name="otp_setup"),
]
