from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "rathaus.integration"
    verbose_name = "Anbindung an Fachverfahren"
    default_auto_field = "django.db.models.BigAutoField"
