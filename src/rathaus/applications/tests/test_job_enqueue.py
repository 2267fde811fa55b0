"""With the database job queue, a submission's jobs are written in its own transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from rathaus.applications.models import Application
from rathaus.applications.services import application_submit

pytestmark = pytest.mark.django_db(transaction=True)

def test_jobs_exist_exactly_when_the_application_commits(db_queue, town, demo_services, dog_data):
    from django_tasks_db.models import DBTaskResult

    class Abort(Exception):
        pass

    def submit_then_fail():
        with transaction.atomic():
            application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
            assert DBTaskResult.objects.count() == 1  # written inside the transaction
            raise Abort

    with pytest.raises(Abort):
        submit_then_fail()
    assert Application.objects.count() == 0
    assert DBTaskResult.objects.count() == 0  # rolled back with the application

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    # One job does what follows a submission: receipt, process start, fan-out to subscribers.
    [(path, args)] = DBTaskResult.objects.values_list("task_path", "args_kwargs")
    assert path == "rathaus.applications.tasks.application_received"
    assert args == {"args": [application.pk], "kwargs": {}}
    # The worker can run it: the job row reads back as a task of its queue.
    result = DBTaskResult.objects.get().task_result
    assert result.task.func.__name__ == "application_received" and result.args == [application.pk]
