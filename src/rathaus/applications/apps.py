from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "rathaus.applications"
    label = "applications"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers the outbox composers (receipt, status e-mail)
