from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rathaus.core"
    label = "core"

    def ready(self) -> None:
        from .admin import audit_every_admin

        # The admin app comes first in INSTALLED_APPS and has loaded every admin module by now;
        # admins without the audit mixin (Django's, third-party, a forgotten one) get it here.
        audit_every_admin()
