"""Background jobs of the case file (django-tasks; started by the worker's scheduler)."""

from django_tasks import task


@task()
def apply_document_retention() -> dict:
    """Delete documents whose retention class ran out (daily; see RATHAUS_PERIODIC_TASKS)."""
    from .services import documents_apply_retention

    return documents_apply_retention()


@task()
def end_unretrieved_provisions() -> dict:
    """Decision letters not retrieved within 10 days go to post (hourly; see RATHAUS_PERIODIC_TASKS)."""
    from .services import decision_provisions_end

    return decision_provisions_end()
