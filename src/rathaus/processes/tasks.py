"""Background jobs of the process side (django-tasks; enqueued after commit or by the scheduler)."""

from django_tasks import task


@task()
def start_process(application_id: int) -> None:
    """Start the application's process right after its submission committed."""
    from rathaus.applications.models import Application

    from .outbox import outbox_delivered_here
    from .services import process_start

    application = Application.objects.filter(pk=application_id).first()
    if application is not None:
        with outbox_delivered_here():
            process_start(application=application)


@task()
def deliver_outbox(message_id: int) -> bool:
    from .outbox import outbox_deliver

    return outbox_deliver(message_id_=message_id)


# The jobs that run process steps deliver the e-mails and calls the steps queue themselves, once
# each step has committed (outbox_delivered_here), instead of a job per message.


@task()
def fire_due_timers() -> int:
    from .outbox import outbox_delivered_here
    from .services import timer_fire_due

    with outbox_delivered_here():
        return timer_fire_due()


@task()
def task_deadlines() -> dict:
    from .outbox import outbox_delivered_here
    from .services import task_deadlines as run

    with outbox_delivered_here():
        return run()


@task()
def sweep() -> dict:
    from .outbox import outbox_delivered_here
    from .services import processes_sweep

    with outbox_delivered_here():
        return processes_sweep()
