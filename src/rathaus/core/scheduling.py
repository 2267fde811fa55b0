"""Periodic jobs for the worker: enqueue each due job exactly once across all workers."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import PeriodicRun

logger = logging.getLogger(__name__)


def enqueue_due_jobs(now=None) -> list[str]:
    """Enqueue every configured periodic task whose interval has passed; returns their names."""
    now = now or timezone.now()
    started = []
    for name, (task_path, seconds) in settings.RATHAUS_PERIODIC_TASKS.items():
        PeriodicRun.objects.get_or_create(name=name)
        cutoff = now - timedelta(seconds=seconds)
        # Only one worker's UPDATE matches; the others see the new timestamp and skip.
        claimed = PeriodicRun.objects.filter(Q(last_run_at__isnull=True) | Q(last_run_at__lte=cutoff), name=name).update(last_run_at=now)
        if claimed:
            import_string(task_path).enqueue()
            started.append(name)
    return started


class Scheduler(threading.Thread):
    def __init__(self, tick_seconds: float = 30.0) -> None:
        super().__init__(name="rathaus-scheduler", daemon=True)
        self.tick_seconds = tick_seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                for name in enqueue_due_jobs():
                    logger.info("enqueued periodic job %s", name)
            except Exception:  # noqa: BLE001 - a failing tick must not kill the worker; the next tick retries
                logger.exception("periodic scheduling failed")
            finally:
                close_old_connections()
            self.stopped.wait(self.tick_seconds)
