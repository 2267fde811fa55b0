from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "rathaus.applications"
    label = "applications"
