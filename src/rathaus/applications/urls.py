from django.urls import path

from . import views

app_name = "applications"
urlpatterns = [
    path("leistungen/<slug:service>/antrag/", views.start, name="start"),
    path("antrag/<str:token>/schritt/<int:index>/", views.step, name="step"),
    path("antrag/<str:token>/pruefen/", views.review, name="review"),
    path("antrag/<str:token>/vertretung/", views.representation, name="representation"),
    path("status/", views.status_lookup, name="status_lookup"),
    path("status/<str:reference>/<str:token>/", views.status, name="status"),
    path("status/<str:reference>/<str:token>/bestaetigung/", views.receipt, name="receipt"),
    path("status/<str:reference>/<str:token>/eingangsbestaetigung.pdf", views.receipt_pdf_view, name="receipt_pdf"),
    path("meine-antraege/<str:reference>/", views.my_status, name="my_status"),
    path("verwaltung/posteingang/", views.inbox, name="inbox"),
    path("verwaltung/erfassen/", views.assisted_start, name="assisted_start"),
    path("verwaltung/antraege/<str:reference>/", views.staff_detail, name="staff_detail"),
    path("verwaltung/antraege/<str:reference>/eingangsbestaetigung.pdf", views.staff_receipt_pdf, name="staff_receipt_pdf"),
]
