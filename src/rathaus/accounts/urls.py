from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("anmelden/", views.LoginView.as_view(), name="login"),
    path("abmelden/", views.logout_view, name="logout"),
    path("registrieren/", views.register, name="register"),
    path("bestaetigen/<str:token>/", views.verify_email, name="verify"),
    path("passwort-vergessen/", views.PasswordResetView.as_view(), name="password_reset"),
    path("passwort-vergessen/gesendet/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("passwort-neu/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("passwort-neu/fertig/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("2fa/", views.otp_verify, name="otp"),
    path("2fa/einrichten/", views.otp_setup, name="otp_setup"),
    path("meine-daten/", views.my_data, name="my_data"),
    path("meine-daten/meine-daten.json", views.my_data_export, {"fmt": "json"}, name="my_data_json"),
    path("meine-daten/meine-daten.pdf", views.my_data_export, {"fmt": "pdf"}, name="my_data_pdf"),
    path("meine-daten/meine-daten.zip", views.my_data_export, {"fmt": "zip"}, name="my_data_zip"),
    path("meine-daten/loeschen/", views.erasure, name="erasure"),
    path("meine-daten/freigabecode/", views.assistance_code, name="assistance_code"),
    path("meine-daten/uebernehmen/<slug:municipality>/<str:reference>/", views.profile_take_over, name="profile_take_over"),
]
