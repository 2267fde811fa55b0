"""Background jobs of the process side (django-tasks; enqueued after commit or by the scheduler).

The jobs that run process steps deliver the e-mails and calls the steps queue themselves, together
when the job ends (`outbox_delivered_here`), instead of a job per message.
"""

from django_tasks import task

from .outbox import outbox_delivered_here


@task()
@outbox_delivered_here()
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
@outbox_delivered_here()
def fire_due_timers() -> int:
    from .services import timer_fire_due

    return timer_fire_due()


@task()
@outbox_delivered_here()
def task_deadlines() -> dict:
    from .services import task_deadlines as run

    return run()


@task()
@outbox_delivered_here()
def sweep() -> dict:
    from .services import processes_sweep

    return processes_sweep()
