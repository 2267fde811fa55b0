"""Fixtures of the case file tests: a fake clamd speaking the real INSTREAM protocol on loopback."""

from __future__ import annotations

import io
import os
import socket
import socketserver
import struct
import tempfile
import threading
import zipfile

import pytest

# The EICAR test file: every virus scanner reports it, it harms nothing.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class _ClamdHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        command = b""
        while not command.endswith((b"\0", b"\n")):
            byte = self.rfile.read(1)
            if not byte:
                return
            command += byte
        if command.strip(b"\0\n") not in (b"zINSTREAM", b"nINSTREAM"):
            self.wfile.write(b"UNKNOWN COMMAND\0")
            return
        data = b""
        while True:
            size = struct.unpack("!L", self.rfile.read(4))[0]
            if size == 0:
                break
            data += self.rfile.read(size)
        self.server.scanned.append(data)
        if EICAR in data:
            self.wfile.write(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")
        else:
            self.wfile.write(b"stream: OK\0")


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def _serve(server):
    server.scanned = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def fake_clamd(settings):
    """clamd on 127.0.0.1:<free port>; uploads are scanned by it (settings point there)."""
    server, thread = _serve(_TCPServer(("127.0.0.1", 0), _ClamdHandler))
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{server.server_address[1]}"
    settings.CLAMAV_TIMEOUT = 5
    settings.RATHAUS_UPLOAD_SCANNERS = ["clamav"]
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def fake_clamd_socket(settings):
    """The same on a Unix socket (clamd's usual local setup)."""
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "clamd.ctl")
    server, thread = _serve(_UnixServer(path, _ClamdHandler))
    settings.CLAMAV_URL = f"unix://{path}"
    settings.CLAMAV_TIMEOUT = 5
    settings.RATHAUS_UPLOAD_SCANNERS = ["clamav"]
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)
    os.unlink(path)
    os.rmdir(directory)


@pytest.fixture
def clamd_down(settings):
    """ClamAV configured, but nothing listens on its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{port}"
    settings.CLAMAV_TIMEOUT = 2
    settings.RATHAUS_UPLOAD_SCANNERS = ["clamav"]
    return port


def make_zip(entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED, first_stored: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        if first_stored is not None:
            archive.writestr(zipfile.ZipInfo(first_stored), entries[first_stored], compress_type=zipfile.ZIP_STORED)
        for name, content in entries.items():
            if name != first_stored:
                # A fixed date: the same bytes in every process (xdist workers compare test ids).
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = compression
                archive.writestr(info, content)
    return buffer.getvalue()


def stored_files(storage, top: str = "cases") -> list[str]:
    """Every file under `top` in the storage (walks the directories)."""
    if not storage.exists(top):
        return []
    directories, files = storage.listdir(top)
    found = [f"{top}/{name}" for name in files]
    for directory in directories:
        found += stored_files(storage, f"{top}/{directory}")
    return found


# The demo services with their processes, and `submit` (the real submission service, jobs on commit).
from rathaus.processes.tests.conftest import demo_processes, submit  # noqa: E402, F401


@pytest.fixture
def exemption_data(dog_data):
    """A dog registration with an exemption and its proof (goes to a case worker)."""
    import base64
    import copy

    data = copy.deepcopy(dog_data)
    data["reduction"] = {"exemption": "blindenfuehrhund",
                         "proof": {"filename": "Ausweis.pdf", "content_type": "application/pdf",
                                   "content": base64.b64encode(PDF).decode()}}
    return data


@pytest.fixture
def lead(town, make_staff):
    from rathaus.accounts.models import Role

    return make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town, "worker@musterstadt.example")
