from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "rathaus.portal"
    label = "portal"
