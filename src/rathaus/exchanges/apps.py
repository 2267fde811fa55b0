from django.apps import AppConfig

# name → (task, interval in seconds), added to RATHAUS_PERIODIC_TASKS unless settings name it.
PERIODIC_TASKS = {
    # Offers answer by a date; checking hourly expires them within an hour of the deadline passing.
    "exchanges.place_offers_expire": ("rathaus.exchanges.tasks.expire_place_offers", 3600),
}


class ExchangesConfig(AppConfig):
    name = "rathaus.exchanges"
    label = "exchanges"

    def ready(self) -> None:
        from django.conf import settings

        # The worker's scheduler reads RATHAUS_PERIODIC_TASKS; the app brings its own jobs so that
        # installing it is enough, and a deployment can still override an interval in settings.
        periodic = getattr(settings, "RATHAUS_PERIODIC_TASKS", None)
        if periodic is not None:
            for name, job in PERIODIC_TASKS.items():
                periodic.setdefault(name, job)
