from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "rathaus.cases"
    verbose_name = "E-Akte"
    default_auto_field = "django.db.models.BigAutoField"
