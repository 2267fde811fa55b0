from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "rathaus.catalog"
    label = "catalog"
