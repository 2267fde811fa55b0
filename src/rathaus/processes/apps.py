from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "rathaus.processes"
    verbose_name = "Prozesse"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing the contrib steps registers them (plugins register themselves on import).
        from .steps import registry

        registry.load_contrib()
