"""Background jobs of the process side (django-tasks; enqueued after commit or by the scheduler)."""

from django_tasks import task


@task()
def start_process(application_id: int) -> None:
    """Start the application's process right after its submission committed."""
    from rathaus.applications.models import Application

    from .services import process_start

    application = Application.objects.filter(pk=application_id).first()
    if application is not None:
        process_start(application=application)


@task()
def deliver_outbox(message_id: int) -> bool:
    from .outbox import outbox_deliver

    return outbox_deliver(message_id_=message_id)


@task()
def fire_due_timers() -> int:
    from .services import timer_fire_due

    return timer_fire_due()


@task()
def task_deadlines() -> dict:
    from .services import task_deadlines as run

    return run()


@task()
def sweep() -> dict:
    from .services import processes_sweep

    return processes_sweep()
