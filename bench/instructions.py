"""Benchmark: instructions per case (callgrind) of the full stack vs the engine in memory, in one run.

Run: ``.venv/bin/python bench/instructions.py [--cases 20] [--database-url postgres://…/rathaus_bench_instructions]``
(needs valgrind: ``apt-get install valgrind``).

Timings on a shared machine of two cores swing by a fifth from run to run, more than most single
changes to the hot path gain; bench/processes.py shows it in the in-memory engine's figures. This
bench counts what does not swing: the instructions the Python process executes per case, with
valgrind's callgrind, within 0.1 % from run to run for the same code, whatever else the machine
does. It counts the Python process only (PostgreSQL's own work, the kernel's and waiting are
not counted; bench/processes.py has the machine's CPU and the throughput).

Each phase runs in a process of its own under ``valgrind --tool=callgrind --instr-atstart=no``:
set-up (Django, a throwaway ``test_…`` database, the demo town, warm-up cases) runs without
counting, ``callgrind_control`` switches counting on for the timed cases only.

* **full stack**: dog registrations through ``application_submit`` on PostgreSQL with the jobs run
  in the same process right after commit (as ``bench/processes.py --tasks immediate --workers 1``):
  submission, process start with DMN, decision letter PDF in the case file, timeline and audit
  entries, receipt and decision notice through the outbox (file backend).
* **in memory, our engine** and **in memory, plain SpiffWorkflow**: as in bench/processes.py, the
  state serialized after each case in both (the full stack keeps no state of a completed run, so
  it does not serialize it).

After set-up each phase freezes what its process holds (``gc.freeze()``, as ``rathaus serve`` and
``rathaus worker`` do after their first requests or job; see rathaus/core/heap.py).

Prints million instructions per case for each and the ratios.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import processes  # noqa: E402 - bench/processes.py, beside this file

STEP_TIMEOUT = 3600  # seconds for set-up or the timed cases under valgrind before the bench gives up
PHASES = {"full": "full stack (submission, process, PDF, e-mails, audit)",
          "ours": "in memory, our engine (ProcessRun, same BPMN + DMN)",
          "plain": "in memory, plain SpiffWorkflow (same BPMN, own parser)"}


def _full_stack(args, media: str) -> tuple[callable, callable]:
    """Set up the database and warm up; returns (the timed cases, the check and clean-up)."""
    from django.db import connection

    from rathaus.applications.models import Application
    from rathaus.applications.services import application_submit
    from rathaus.catalog.models import Service

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    town, service = processes.demo_town()
    service = Service.objects.select_related("form").get(pk=service.pk)

    def submit(i: int) -> None:
        application_submit(municipality=town, service=service, data=processes._dog(i))

    for i in range(10):  # model cache, fonts, templates, prepared statements, connection
        submit(900_000 + i)

    def timed() -> None:
        for i in range(args.cases):
            submit(i)

    def clean_up() -> None:  # not counted: after the dump
        approved = Application.objects.filter(status="approved").count()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        assert approved == args.cases + 10, f"{approved} approved, expected {args.cases + 10}"

    return timed, clean_up


def _child(phase: str, args) -> None:
    """Under valgrind: set up, say READY, wait for GO, run the cases, say DONE, wait for STOP."""
    media = tempfile.mkdtemp(prefix="rathaus-bench-")
    processes._settings(argparse.Namespace(database_url=args.database_url, tasks="immediate"), media)
    import django

    django.setup()  # the in-memory phases read the demo models through the app registry, no database
    try:
        if phase == "full":
            timed, clean_up = _full_stack(args, media)
        else:
            share = [900_000 + i for i in range(processes.WARMUP)] + list(range(args.cases))
            timed, clean_up = (processes._our_engine if phase == "ours" else processes._plain_spiff)(share), (lambda: None)
        from rathaus.core.heap import freeze_long_lived

        freeze_long_lived()  # as `rathaus serve` and `rathaus worker` do after their first requests or job
        print("READY", flush=True)
        sys.stdin.readline()
        timed()
        print("DONE", flush=True)
        sys.stdin.readline()
        clean_up()
    finally:
        shutil.rmtree(media, ignore_errors=True)


def _measure(phase: str, args, out: Path) -> int:
    """Instructions of the timed part of `phase`: callgrind's totals from switching counting on to the dump."""
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/{phase}.%p",
               sys.executable, __file__, "--child", phase, "--cases", str(args.cases), "--database-url", args.database_url]
    log = (out / f"{phase}.log").open("w+")  # valgrind's and the child's messages (a pipe could fill up)
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True).start()

    def failed(what: str) -> SystemExit:
        child.kill()
        log.seek(0)
        return SystemExit(f"{phase}: {what}\n{log.read()[-3000:]}")

    def expect(word: str) -> None:
        try:
            line = lines.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise failed(f"no {word} within {STEP_TIMEOUT} s") from None
        if line.strip() != word:
            raise failed(f"expected {word}, got {line!r}")

    def control(option: str) -> None:
        # callgrind_control reaches the process through vgdb (ptrace); it exits 0 even when it
        # could not, so what it did is checked by its output and the dump file below.
        try:
            done = subprocess.run(["callgrind_control", option, str(child.pid)], capture_output=True, text=True,
                                  timeout=60)
        except subprocess.TimeoutExpired:
            raise failed(f"callgrind_control {option} did not reach the process (is ptrace allowed?)") from None
        if "No active callgrind runs" in done.stdout or done.returncode != 0:
            raise failed(f"callgrind_control {option}: {done.stdout.strip()} {done.stderr.strip()}")

    try:
        expect("READY")
        control("--instr=on")
        child.stdin.write("GO\n")
        child.stdin.flush()
        expect("DONE")
        control("--dump")  # holds exactly what was counted since counting was switched on
        control("--instr=off")
        child.stdin.write("STOP\n")
        child.stdin.close()
        if child.wait(timeout=STEP_TIMEOUT) != 0:
            raise failed("failed")
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    dump = out / f"{phase}.{child.pid}.1"
    if not dump.exists():
        raise SystemExit(f"{phase}: callgrind wrote no dump on request ({dump.name} is missing)")
    totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
    if len(totals) != 1 or not int(totals[0].split()[1]):
        raise SystemExit(f"{phase}: callgrind counted nothing in {dump.name}")
    return int(totals[0].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="timed cases per phase (default 20; valgrind runs about 50x slower)")
    parser.add_argument("--database-url", default=os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rathaus_bench_instructions"))
    parser.add_argument("--only", choices=sorted(PHASES), help="measure this phase only (no ratios)")
    parser.add_argument("--child", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    if args.child:
        _child(args.child, args)
        return
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"needs {' and '.join(missing)} (Debian: apt-get install valgrind)")
    from rich.console import Console
    from rich.progress import Progress

    counts, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="rathaus-callgrind-") as out, \
            Progress(console=Console(stderr=True), transient=True) as progress:
        phases = {args.only: PHASES[args.only]} if args.only else PHASES
        bar = progress.add_task("under valgrind", total=len(phases))
        for phase, title in phases.items():
            progress.update(bar, description=f"under valgrind: {title.split(' (')[0]}")
            started = time.perf_counter()
            counts[phase] = _measure(phase, args, Path(out)) / args.cases / 1e6
            seconds[phase] = time.perf_counter() - started
            progress.advance(bar)
    print(f"cases per phase: {args.cases} (after warm-up); counted: instructions of the Python process (callgrind), "
          "PostgreSQL's not included")
    print(f"{'':58s}M instructions/case   s under valgrind")
    for phase, title in phases.items():
        print(f"{title:58s}{counts[phase]:10.2f}   {seconds[phase]:12.0f}")
    if args.only:
        return
    full, ours, plain = counts["full"], counts["ours"], counts["plain"]
    print(f"ratios: full stack / our engine {full / ours:.1f}x, full stack / plain SpiffWorkflow {full / plain:.1f}x, "
          f"our engine / plain SpiffWorkflow {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
