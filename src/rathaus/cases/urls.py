from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("verwaltung/antraege/<str:reference>/akte/neu/", views.document_upload, name="document_upload"),
    path("verwaltung/antraege/<str:reference>/akte.csv", views.case_file_export, {"fmt": "csv"}, name="export_csv"),
    path("verwaltung/antraege/<str:reference>/akte.json", views.case_file_export, {"fmt": "json"}, name="export_json"),
    path("verwaltung/antraege/<str:reference>/akte/<int:document_id>/", views.staff_download, name="staff_download"),
    path("verwaltung/antraege/<str:reference>/akte/<int:document_id>/v<int:number>/", views.staff_download,
         name="staff_version_download"),
    path("verwaltung/antraege/<str:reference>/akte/<int:document_id>/neue-version/", views.version_upload,
         name="version_upload"),
    path("verwaltung/antraege/<str:reference>/unterlagen-nachfordern/", views.document_requests, name="document_requests"),
    path("verwaltung/antraege/<str:reference>/aufbewahrungssperre/", views.legal_hold, name="legal_hold"),
    path("verwaltung/aufbewahrung/", views.retention_settings, name="retention"),
    path("verwaltung/bescheide-per-post/", views.decisions_to_post, name="decisions_to_post"),
    path("status/<str:reference>/<str:token>/dokumente/<int:document_id>/", views.citizen_download, name="citizen_download"),
    path("meine-antraege/<str:reference>/dokumente/<int:document_id>/", views.my_download, name="my_download"),
]
