from django.apps import AppConfig


class FormsConfig(AppConfig):
    name = "rathaus.forms"
    label = "rathaus_forms"
