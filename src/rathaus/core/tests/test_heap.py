"""Long-running processes freeze what they keep once they have loaded it (core/heap.py)."""

from __future__ import annotations

import gc

import pytest

from rathaus.core.heap import FreezeAfterRequests


@pytest.fixture(autouse=True)
def _unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process must not keep its objects out of the collector's reach


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hallo ", environ["PATH_INFO"].encode()]


def _get(application, path: str) -> bytes:
    response = application({"PATH_INFO": path}, lambda status, headers: None)
    try:
        return b"".join(response)
    finally:
        getattr(response, "close", lambda: None)()


def test_a_web_process_freezes_what_it_holds_once_its_first_responses_are_sent(monkeypatch):
    from rathaus.core import heap

    calls = []
    real = heap.freeze_long_lived
    monkeypatch.setattr(heap, "freeze_long_lived", lambda: calls.append(1) or real())
    application = FreezeAfterRequests(_app, count=2)
    assert _get(application, "/healthz") == b"Hallo /healthz"
    assert calls == [] and gc.get_freeze_count() == 0  # one request (a health check) loads little
    response = application({"PATH_INFO": "/eins"}, lambda status, headers: None)
    assert b"".join(response) == b"Hallo /eins"
    assert calls == []  # not before the response is closed (sent)
    response.close()
    assert calls == [1] and gc.get_freeze_count() > 1000  # modules, settings, URL configuration
    assert _get(application, "/zwei") == b"Hallo /zwei"
    assert application({"PATH_INFO": "/drei"}, lambda status, headers: None) == [b"Hallo ", b"/drei"]  # no wrapper any more
    assert calls == [1]  # once only


def test_the_production_wsgi_application_is_wrapped():
    from rathaus.config import wsgi

    assert isinstance(wsgi.application, FreezeAfterRequests) and wsgi.application.count == 25


@pytest.mark.django_db(transaction=True)
def test_the_worker_freezes_what_it_holds_after_its_first_job(db_queue, town):
    from django.core import mail

    from rathaus.core.worker import Worker
    from rathaus.processes.outbox import outbox_add
    from rathaus.processes.tasks import deliver_outbox

    for key in ("eins", "zwei"):
        message = outbox_add(municipality=town, key=key, kind="email", enqueue=False,
                             payload={"subject": key, "body": "Text", "to": ["erika@example.org"]})
        deliver_outbox.enqueue(message.pk)
    worker = Worker(queue_names=["*"], interval=0.01, batch=True, backend_name="default", startup_delay=False,
                    max_tasks=None, worker_id="w-test", excluded_queue_names=[])
    assert gc.get_freeze_count() == 0
    worker.run()
    assert [m.subject for m in mail.outbox] == ["eins", "zwei"]  # both jobs ran
    assert gc.get_freeze_count() > 1000
