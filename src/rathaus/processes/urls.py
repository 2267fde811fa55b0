from django.urls import path

from . import views

app_name = "processes"
urlpatterns = [
    path("verwaltung/aufgaben/", views.task_inbox, {"view": "mine"}, name="tasks_mine"),
    path("verwaltung/aufgaben/team/", views.task_inbox, {"view": "team"}, name="tasks_team"),
    path("verwaltung/aufgaben/ueberfaellig/", views.task_inbox, {"view": "overdue"}, name="tasks_overdue"),
    path("verwaltung/aufgaben/<int:pk>/", views.task_detail, name="task_detail"),
    path("verwaltung/antraege/<str:reference>/prozess.json", views.diagram_data, name="diagram_data"),
    path("verwaltung/antraege/<str:reference>/aufgaben.csv", views.case_tasks_export, {"fmt": "csv"}, name="case_tasks_csv"),
    path("verwaltung/antraege/<str:reference>/aufgaben.json", views.case_tasks_export, {"fmt": "json"},
         name="case_tasks_json"),
    path("verwaltung/antraege/<str:reference>/verlauf.csv", views.case_timeline_export, {"fmt": "csv"},
         name="case_timeline_csv"),
    path("verwaltung/antraege/<str:reference>/verlauf.json", views.case_timeline_export, {"fmt": "json"},
         name="case_timeline_json"),
    path("verwaltung/prozesse/", views.definitions, name="definitions"),
    path("status/<str:reference>/<str:token>/nachreichen/", views.citizen_upload, name="citizen_upload"),
    path("meine-antraege/<str:reference>/nachreichen/", views.my_upload, name="my_upload"),
    path("verwaltung/antraege/<str:reference>/eingang/", views.case_message, name="case_message"),
    path("verwaltung/antraege/<str:reference>/prozess/erneut/", views.case_retry, name="case_retry"),
]
