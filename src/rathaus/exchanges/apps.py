from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    name = "rathaus.exchanges"
    label = "exchanges"
