"""`rathaus demo`: one command serves the demo with a background worker, and stopping it stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker process through /proc (Linux)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent's pid
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stopping_the_demo_with_sigterm_stops_its_worker_too(tmp_path):
    # systemd, `docker stop` and `kill` send SIGTERM: the demo's worker must not run on without it.
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("RATHAUS_REQUIRE_POSTGRES",)}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}", MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="rathaus.config.settings.dev")
    demo = subprocess.Popen([sys.executable, "-m", "rathaus.cli", "demo", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert demo.poll() is None, "the demo ended before it served"
            assert time.monotonic() < deadline, "the demo did not answer within 240 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:  # noqa: S310 - local
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        [worker] = _children(demo.pid)
        assert _alive(worker)
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
        assert not _alive(worker), "the worker still runs after the demo was stopped"
    finally:
        # Whatever failed: nothing of the demo's process group (a stray worker included) outlives the test.
        try:
            os.killpg(demo.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        demo.wait()
