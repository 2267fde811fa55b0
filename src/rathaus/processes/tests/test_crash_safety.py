"""SIGKILL the real worker in the middle of processing: no step is lost or repeated, every e-mail goes out."""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from rathaus.processes.outbox import _BATCH, message_id

CASES = 30



def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "rathaus.config.settings.dev",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "EMAIL_URL": f"filemail:///{tmp / 'mail'}",  # environ drops one slash: four make an absolute path
        "CACHE_URL": "locmemcache://",
        "MEDIA_ROOT": str(tmp / "media"),
        "RATHAUS_VAR_DIR": str(tmp),
        "RATHAUS_PROCESS_SWEEP_SECONDS": "1",
        "RATHAUS_PROCESS_TIMER_SECONDS": "1",
        "LOG_LEVEL": "ERROR",
        "SECRET_KEY": settings.SECRET_KEY,  # the e-mails' Message-IDs are keyed with it; the test computes them too
    })
    return env


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _worker(env):
    return subprocess.Popen([sys.executable, "-m", "rathaus.cli", "worker", "--interval", "0.05"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_killed_worker_loses_no_step_or_email_and_repeats_at_most_the_interrupted_delivery(tmp_path):
    env = _env(tmp_path)
    db = tmp_path / "db.sqlite3"
    subprocess.run([sys.executable, "-m", "rathaus.processes.tests.crash_helper", "setup", str(CASES)], env=env,
                   check=True, timeout=120)
    worker = _worker(env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = _count(db, "select count(*) from processes_processinstance")
            if started >= 3:
                break
            time.sleep(0.01)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-run: the worker holds an open transaction most of the time
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    killed_at = _count(db, "select count(*) from processes_processinstance")
    assert 3 <= killed_at < CASES, "the kill must land in the middle of the work"

    worker = _worker(env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = _count(db, "select count(*) from processes_processinstance where status = 'completed'")
            unsent = _count(db, "select count(*) from processes_outboxmessage where sent_at is null")
            if done == CASES and unsent == 0:
                break
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)

    out = subprocess.run([sys.executable, "-m", "rathaus.processes.tests.crash_helper", "report"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    report = json.loads(out)
    assert report["failed"] == []
    assert report["instances"] == report["completed"] == report["approved"] == report["documents"] == CASES
    # received + approved: each status written exactly once
    assert set(report["status_changes"].values()) == {2}
    # Per case a receipt (stored with the submission) and the decision notice (stored by the step,
    # sent by the worker that ran it or by the sweep); the model's status step sends no e-mail.
    assert len(report["outbox"]) == 2 * CASES and report["unsent"] == 0
    assert sum(key.startswith("receipt:") for key in report["outbox"]) == CASES
    assert not any(key.startswith("status:") for key in report["outbox"])
    keys = {message_id(key): key for key in report["outbox"]}  # the e-mail's Message-ID -> its idempotency key
    copies: dict[str, list[str]] = {}  # idempotency key -> body of every copy written
    for path in (tmp_path / "mail").glob("*.log"):
        for raw in path.read_text().split("-" * 79):
            message = email.message_from_string(raw.strip())
            if message.get("Message-ID") in keys:
                copies.setdefault(keys[message["Message-ID"]], []).append(message.get_payload())
    assert sorted(copies) == report["outbox"], "every outbox e-mail sent"
    # SMTP cannot be part of the database transaction: if the kill falls between sending an e-mail
    # and the commit that marks it sent, the e-mail goes out once more after the restart, with the
    # same Message-ID (derived from its idempotency key), which receivers drop. Only the e-mails of
    # the one delivery the kill interrupted (at most one batch), each at most twice, the same text.
    again = {key: bodies for key, bodies in copies.items() if len(bodies) > 1}
    assert all(len(bodies) == 2 and bodies[0] == bodies[1] for bodies in again.values()), again
    assert len(again) <= _BATCH, again
