"""Benchmark: applications through the HTTP API vs a bare Django insert view, served side by side.

Run: ``.venv/bin/python bench/intake.py [--n 2000] [--concurrency 8]``

One command does everything, on loopback only:

1. drops and creates the PostgreSQL database of ``--database-url`` (default
   ``postgres://postgres@127.0.0.1:5432/rathaus_bench``), migrates it and seeds the demo;
2. serves the app with gunicorn (gthread workers, production settings, DEBUG off) from
   ``bench/settings_bench.py``, which adds ``bench/floor_app``: a view that parses the JSON body
   and inserts one row — the framework floor, behind the same middleware;
3. posts ``--n`` valid dog registrations to ``POST /api/v1/m/musterstadt/applications`` and the
   same bodies to the floor view, from a pool of keep-alive connections, after a warm-up;
4. prints applications/s and p50/p95 latency of both with the ratio, and checks that every
   application was stored once with a unique reference. ``--profile`` also samples the workers
   with py-spy while a further batch of submissions runs and prints where the time goes.

Exit status: 0 when every request succeeded and was stored; 1 otherwise. The ratio target (at
least half the floor's throughput) is reported, not enforced: the figure goes into the notes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable
TENANT = "musterstadt"
API_PATH = f"/api/v1/m/{TENANT}/applications"
FLOOR_PATH = "/bench/floor"
TARGET_RATIO = 0.5


def dog_registration(i: int) -> dict:
    """A valid, distinct dog registration (the demo form's schema)."""
    return {
        "owner": {"given_name": "Erika", "family_name": f"Muster{i}", "birth_date": "1980-01-31",
                  "address": {"street": "Hauptstraße", "house_number": str(1 + i % 200), "postal_code": "99999",
                              "city": "Musterstadt"},
                  "email": f"erika{i}@example.org"},
        "dog": {"name": "Bello", "breed": ("labrador", "mischling", "dackel")[i % 3], "birth_date": "2024-05-01",
                "sex": ("maennlich", "weiblich")[i % 2], "chip_number": f"276{i:012d}", "kept_since": "2026-11-01",
                "other_dogs": i % 3},
        "reduction": {"exemption": "keine"},
        "declaration": {"truthful": True, "privacy": True},
    }


# ---------------------------------------------------------------- set-up


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def server_env(args, var_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "settings_bench",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(BENCH)]),
        "DATABASE_URL": args.database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1",
        # Plain HTTP on loopback: no TLS redirect; everything else stays as in production.
        "SECURE_SSL_REDIRECT": "false",
        "RATELIMIT_SUBMISSIONS": "100000000/m",
        "RATHAUS_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
    })
    env.pop("DEBUG", None)
    return env


def run_django(env: dict[str, str], *argv: str, capture: bool = False) -> str:
    result = subprocess.run([PYTHON, "-m", "django", *argv], env=env, cwd=ROOT, check=True, text=True,
                            capture_output=capture, timeout=900)
    return result.stdout if capture else ""


def seed(env: dict[str, str]) -> int:
    code = ("import django; django.setup()\n"
            "from rathaus.portal.demo import seed_demo\n"
            "from rathaus.catalog.models import Service\n"
            "seed_demo(with_exchanges=False)\n"
            f"print('SERVICE_ID', Service.objects.get(municipality__slug={TENANT!r}, slug='hund-anmelden').pk)\n")
    out = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, check=True, text=True, capture_output=True,
                         timeout=900).stdout
    return int(next(line for line in out.splitlines() if line.startswith("SERVICE_ID")).split()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "rathaus.config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
         "--keep-alive", "60", "--backlog", "256", "--log-level", "warning", "--timeout", "120"],
        env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# ---------------------------------------------------------------- load


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bodies: list[dict] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the gunicorn processes spent during the run
    database_cpu: float = 0.0  # seconds of CPU the PostgreSQL server processes spent during the run

    @property
    def ok(self) -> int:
        return self.statuses[201]

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    def merge(self, other: Run) -> None:
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.bodies += other.bodies
        self.wall += other.wall
        self.server_cpu += other.server_cpu
        self.database_cpu += other.database_cpu

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def _cpu_seconds(matches) -> float:
    """User + system CPU of the processes for which ``matches(comm, stat_fields)`` is true.

    `stat_fields` are the fields of /proc/PID/stat after "(comm)": state, ppid, pgrp, …, utime (12), stime (13).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _sep, rest = (entry / "stat").read_text().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        if matches(head.partition("(")[2], fields):
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL server process on this machine (0 if none is visible)."""
    return _cpu_seconds(lambda comm, _fields: comm == "postgres")


def group_cpu_seconds(pgid: int) -> float:
    """CPU of every process in a process group (the gunicorn master and workers)."""
    return _cpu_seconds(lambda _comm, fields: int(fields[2]) == pgid)


def fire(name: str, port: int, path: str, bodies: list[bytes], concurrency: int, idempotency: bool,
         pgid: int | None = None) -> Run:
    """POST each body once from `concurrency` threads, each on its own keep-alive connection."""
    run = Run(name)
    local = threading.local()
    lock = threading.Lock()

    def connection() -> http.client.HTTPConnection:
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        return local.conn

    def post(body: bytes) -> None:
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if idempotency:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        for attempt in range(2):
            conn = connection()
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                break
            except (OSError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: reconnect once (same key, so safe).
                conn.close()
                local.conn = None
                if attempt:
                    with lock:
                        run.statuses["connection-error"] += 1
                    return
        with lock:
            run.latencies.append(elapsed)
            run.statuses[response.status] += 1
            if response.status == 201:
                run.bodies.append(json.loads(payload))

    cpu_before = group_cpu_seconds(pgid) if pgid else 0.0
    database_before = postgres_cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, bodies))
    run.wall = time.perf_counter() - started
    run.server_cpu = group_cpu_seconds(pgid) - cpu_before if pgid else 0.0
    run.database_cpu = postgres_cpu_seconds() - database_before
    return run


def bodies_for(service_id: int, start: int, count: int) -> list[bytes]:
    return [json.dumps({"service": service_id, "data": dog_registration(i)}, ensure_ascii=False).encode()
            for i in range(start, start + count)]


# ---------------------------------------------------------------- checks and report


def stored_applications(database_url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT reference) FROM applications_application").fetchone()
    return int(row[0]), int(row[1])


def stored_floor_rows(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return int(conn.execute("SELECT count(*) FROM floor_floorrow").fetchone()[0])


def report(floor: Run, ours: Run, args, checks: list[tuple[str, bool]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Intake benchmark: {args.n} POSTs, {args.concurrency} client threads, "
                        f"gunicorn {args.workers}×{args.threads} gthread, PostgreSQL")
    for column in ("", "ok", "failed", "per second", "p50 ms", "p95 ms", "app CPU ms/req", "PostgreSQL CPU ms/req"):
        table.add_column(column, justify="right" if column else "left")
    for run in (floor, ours):
        failed = sum(count for status, count in run.statuses.items() if status != 201)
        table.add_row(run.name, str(run.ok), str(failed), f"{run.rate:,.0f}", f"{run.percentile(0.5):.1f}",
                      f"{run.percentile(0.95):.1f}", f"{1000 * run.server_cpu / max(run.ok, 1):.1f}",
                      f"{1000 * run.database_cpu / max(run.ok, 1):.1f}")
    ratio = ours.rate / floor.rate if floor.rate else 0.0
    table.add_row("ours / floor", "", "", f"{ratio:.2f}", f"{ours.percentile(0.5) / floor.percentile(0.5):.2f}×",
                  f"{ours.percentile(0.95) / floor.percentile(0.95):.2f}×",
                  f"{ours.server_cpu / max(ours.ok, 1) / (floor.server_cpu / max(floor.ok, 1) or 1):.2f}×",
                  f"{ours.database_cpu / max(ours.ok, 1) / (floor.database_cpu / max(floor.ok, 1) or 1):.2f}×", style="bold")
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print("app CPU: user+system time of the gunicorn processes per request; PostgreSQL CPU: the same for "
                  "the database server's processes. Unlike the rates they do not depend on what else the machine is doing.")
    verdict = "meets" if ratio >= TARGET_RATIO else "is BELOW"
    console.print(f"Throughput ratio {ratio:.2f} {verdict} the target of {TARGET_RATIO:.2f}.")
    for text, ok in checks:
        console.print(f"[{'green' if ok else 'red'}]{'✓' if ok else '✗'}[/] {text}")


# ---------------------------------------------------------------- profiling


def profile(proc: subprocess.Popen, port: int, bodies: list[bytes], concurrency: int, seconds: int) -> None:
    """Sample the gunicorn workers with py-spy while `bodies` are submitted; print the hot frames."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed (pip install py-spy); skipping the profile")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "intake-profile.txt"
    sampler = subprocess.Popen([spy, "record", "--pid", str(proc.pid), "--subprocesses", "--rate", "250",
                                "--duration", str(seconds), "--format", "raw", "--output", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    deadline = time.monotonic() + seconds - 1.5
    offset = 0
    while time.monotonic() < deadline and offset < len(bodies):
        batch = bodies[offset:offset + 200]
        fire("profile", port, API_PATH, batch, concurrency, idempotency=True)
        offset += len(batch)
    sampler.wait(timeout=seconds + 60)
    summarise_profile(out)


def summarise_profile(path: Path, top: int = 30) -> None:
    """Inclusive share of the request time per function, from py-spy's collapsed stacks."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # Only samples inside a request; idle threads waiting for work would drown everything else.
        if not any("get_response" in f for f in frames):
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[_short(frame)] += n
        own[_short(frames[-1])] += n
    if not total:
        print("no request samples recorded")
        return
    print(f"\nWhere a request's time goes ({total} samples inside requests; inclusive %):")
    for name, n in inclusive.most_common(200):
        if any(key in name for key in ("rathaus", "jsonschema", "psycopg", "execute", "ninja", "ratelimit", "audit",
                                       "json", "middleware", "commit", "atomic", "hashlib", "argon", "cache")):
            print(f"  {100 * n / total:5.1f}%  {name}")
            top -= 1
            if top == 0:
                break
    print("\nTop self time:")
    for name, n in own.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"(raw stacks: {path})")


def _short(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; keep the function and a short path.
    name, _sep, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.split("site-packages/")[-1].split("/src/")[-1]
    file = file.rsplit(":", 1)[0]
    return f"{name} ({file})"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="POSTs per endpoint (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="alternate floor and ours this many times (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured POSTs per endpoint first (default 100)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgres://postgres@127.0.0.1:5432/rathaus_bench"))
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="afterwards, sample the workers with py-spy for SECONDS during more submissions")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 100_000 or not 1 <= args.concurrency <= 64 or not 1 <= args.rounds <= args.n:
        parser.error("--n must be 1..100000, --concurrency 1..64 and --rounds 1..n")

    var_dir = tempfile.mkdtemp(prefix="rathaus-bench-")
    Path(var_dir, "static").mkdir()  # WhiteNoise warns about a missing STATIC_ROOT otherwise
    env = server_env(args, var_dir)
    print(f"database {urlsplit(args.database_url)._replace(netloc=urlsplit(args.database_url).hostname or '').geturl()}: "
          "create, migrate, seed …", flush=True)
    recreate_database(args.database_url)
    proc = None
    try:
        run_django(env, "migrate", "--verbosity", "0")
        run_django(env, "createcachetable", "--verbosity", "0")
        service_id = seed(env)
        port = free_port()
        proc = start_server(env, port, args.workers, args.threads)
        print(f"serving on 127.0.0.1:{port}; warming up …", flush=True)
        warm = bodies_for(service_id, 10**6, args.warmup)
        fire("warm-up floor", port, FLOOR_PATH, warm, args.concurrency, idempotency=False)
        warm_ours = fire("warm-up ours", port, API_PATH, warm, args.concurrency, idempotency=True)
        bodies = bodies_for(service_id, 0, args.n)
        print(f"measuring {args.n} POSTs each, in {args.rounds} alternating rounds …", flush=True)
        floor = Run("floor: bare insert view")
        ours = Run("Rathaus: POST applications")
        # Alternating rounds spread any drift of the machine (other load, autovacuum) over both.
        size = -(-args.n // args.rounds)
        for start in range(0, args.n, size):
            chunk = bodies[start:start + size]
            floor.merge(fire(floor.name, port, FLOOR_PATH, chunk, args.concurrency, idempotency=False, pgid=proc.pid))
            ours.merge(fire(ours.name, port, API_PATH, chunk, args.concurrency, idempotency=True, pgid=proc.pid))

        stored, distinct = stored_applications(args.database_url)
        references = [b["reference"] for b in ours.bodies]
        expected = ours.ok + warm_ours.ok
        checks = [
            (f"all {args.n} submissions answered 201 (got {dict(ours.statuses)})", ours.ok == args.n),
            (f"all {args.n} floor inserts answered 201 (got {dict(floor.statuses)})", floor.ok == args.n),
            (f"{stored} applications stored, {expected} expected (incl. warm-up)", stored == expected),
            (f"{distinct} distinct references stored, {len(set(references))} distinct in responses",
             distinct == stored and len(set(references)) == len(references) == ours.ok),
            (f"{stored_floor_rows(args.database_url)} floor rows stored",
             stored_floor_rows(args.database_url) == floor.ok + args.warmup),
        ]
        report(floor, ours, args, checks)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "intake.json").write_text(json.dumps({
            "n": args.n, "concurrency": args.concurrency, "workers": args.workers, "threads": args.threads,
            "floor": {"per_second": floor.rate, "p50_ms": floor.percentile(0.5), "p95_ms": floor.percentile(0.95),
                      "app_cpu_ms": 1000 * floor.server_cpu / max(floor.ok, 1),
                      "database_cpu_ms": 1000 * floor.database_cpu / max(floor.ok, 1)},
            "ours": {"per_second": ours.rate, "p50_ms": ours.percentile(0.5), "p95_ms": ours.percentile(0.95),
                     "app_cpu_ms": 1000 * ours.server_cpu / max(ours.ok, 1),
                     "database_cpu_ms": 1000 * ours.database_cpu / max(ours.ok, 1)},
            "ratio": ours.rate / floor.rate if floor.rate else None,
        }, indent=2))
        if args.profile:
            profile(proc, port, bodies_for(service_id, 2 * 10**6, 100_000), args.concurrency, args.profile)
        return 0 if all(ok for _text, ok in checks) else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if not args.keep_db:
            drop_database(args.database_url)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
