"""Benchmark: cases through the full stack on PostgreSQL vs the engine in memory, in one run.

Run: ``.venv/bin/python bench/processes.py [--cases 600] [--workers 4] [--tasks db|immediate] [--db-workers 2]
[--database-url postgres://…/rathaus_bench_processes] [--profile PREFIX]``

Settings are the production ones (``rathaus.config.settings.production``: DEBUG off, documents on
the file system under a temporary MEDIA_ROOT, e-mails through a file backend instead of SMTP);
only the task backend differs, see below. A throwaway ``test_…`` database is created and dropped.

* **full stack**: ``--workers`` processes, each with its own database connection (as gunicorn
  and worker processes would have), submit dog registrations with ``application_submit``
  (validation, reference, status history, audit hash chain) as the API view calls it (on
  PostgreSQL one statement). After commit its one job runs the process start (completeness
  check, DMN fee decision, script, gateway, decision letter PDF in the case file, outbox e-mail,
  status change, timeline and audit entries; one transaction), then sends the receipt e-mail
  (reference and status link) and the e-mail the process queued (the decision notice; the model's
  status step sends none, ``email=nein``)
  together, over one mail connection.
  By default (``--tasks db``, as in production) the jobs go through django-tasks-db and
  ``--db-workers`` ``rathaus worker`` processes run them (django-tasks-db's ``db_worker`` loop with
  the one-statement claim of ``core/worker.py``, as in production; ``--no-scheduler``: the periodic
  sweeps would find nothing to do); with ``--tasks immediate`` each job runs in
  the submitting process right after commit (the same job functions, without the queue's rows).
  Timed from the first submission until every process has ended and every job has run; the CPU
  column includes the worker processes.
* **process only**: the same workers time ``process_start`` alone for submitted applications.
* **in memory, our engine**: ``ProcessRun`` (SpiffWorkflow with our parser, evaluator and DMN)
  on the same BPMN + DMN with no-op steps returning what the real ones return, state
  serialized after each case (as plain SpiffWorkflow's below; the full stack keeps no state of a
  completed run); one process per CPU.
* **in memory, plain SpiffWorkflow**: ``BpmnWorkflow`` with SpiffWorkflow's own Camunda parser
  and Python script engine on the same BPMN, service tasks completed as external tasks with the
  same results, serialized with its own serializer (its default: state and spec, the Camunda
  configuration plus a converter for plain service tasks); one process per CPU. Its DMN engine
  cannot evaluate our table (see the printed reason), so the decision's output is supplied the
  same way, and so is the tax script's (its date functions, ``add_months``, ``today``,
  ``round_half_up``, are our evaluator's, not Python's).

Every phase's processes freeze what they hold after their warm-up (``gc.freeze()``, as ``rathaus
serve`` and ``rathaus worker`` do after their first requests or job, see rathaus/core/heap.py).

Prints cases/s for each, CPU milliseconds per case of the benchmark's own processes (PostgreSQL's
CPU is not included) and, for the two database phases, of the whole machine while they ran
(PostgreSQL included: at 200 cases/s on 2 cores a case may cost 10 ms of it; in the process-only
phase it includes the worker processes sending the e-mails the process starts queue, up to
the last of them), the ratios and whether the issue's target (200 cases/s end to end on 2 cores)
is met. Figures on a shared machine vary; the bench processes' CPU column varies less, the
machine's counts whatever else runs there too.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TARGET = 200.0
WARMUP = 5
RESULTS = {"check_documents": {"documents_complete": True, "missing_documents": []},
           "issue_decision": {"decision_issued": True, "decision_document": 1}, "notify_citizen": {"citizen_notified": True},
           "set_status": {"status": "approved"}, "compute_fee": {"fee": 0}, "set_deadline": {"deadline": "2026-12-01T23:59:00+01:00"},
           "wait_for_payment": {"payment_reference": "X"}, "notify_backoffice": {"backoffice_notified": True}}


def _dog(i: int) -> dict:
    return {
        "owner": {"given_name": "Erika", "family_name": f"Muster{i}", "birth_date": "1980-01-31",
                  "address": {"street": "Hauptstraße", "house_number": "1", "postal_code": "99999", "city": "Musterstadt"},
                  "email": f"erika{i}@example.org"},
        "dog": {"name": "Bello", "breed": ["labrador", "pitbull", "dackel"][i % 3], "birth_date": "2024-05-01",
                "sex": "maennlich", "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": i % 2},
        "reduction": {"exemption": "keine"}, "declaration": {"truthful": True, "privacy": True},
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- parallel phases


def _proc_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the given processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> float:
    """CPU seconds every process on the machine has used so far (Linux /proc/stat; not idle, iowait or steal)."""
    with contextlib.suppress(OSError):
        user, nice, system, _idle, _iowait, irq, softirq, *_ = map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def _parallel(target, shares: list[list[int]], *args, before_start=None) -> tuple[float, float, list]:
    """Run `target(share, barrier, queue, *args)` in one forked process per share.

    `before_start` runs in the parent once every child has warmed up, just before the common
    start. Returns (wall seconds from the common start to the last finish, CPU seconds of all
    children while timed, the children's extra results).
    """
    from django.db import connections

    connections.close_all()  # a forked child must open its own connection
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(len(shares) + 1), context.Queue()
    children = [context.Process(target=target, args=(share, barrier, queue, *args)) for share in shares]
    for child in children:
        child.start()
    try:
        if before_start is not None:
            while barrier.n_waiting < len(children) and not barrier.broken:
                time.sleep(0.01)
            before_start()
        barrier.wait()
    except threading.BrokenBarrierError:
        pass  # a child failed while preparing; its report says why
    start, _MACHINE[0] = time.perf_counter(), _machine_cpu()
    reports = [queue.get() for _ in children]
    wall = time.perf_counter() - start
    for child in children:
        child.join()
        if child.exitcode:
            raise SystemExit(f"a benchmark process failed (exit {child.exitcode})")
    errors = [r["error"] for r in reports if r.get("error")]
    if errors:
        raise SystemExit("a benchmark process failed:\n" + errors[0])
    return wall, sum(r["cpu"] for r in reports), [r.get("extra") for r in reports]


_MACHINE = [0.0]  # the machine's CPU seconds when the last `_parallel` phase started


def _child(run):
    """Wrap a child's work: warm-up, barrier, timed part, report CPU (and errors) to the parent."""

    def child(share, barrier, queue, *args):
        import traceback

        from rathaus.core.heap import freeze_long_lived

        try:
            prepare = run(share, *args)
            # As `rathaus serve` and `rathaus worker` do once their first requests or job have loaded
            # what they keep: the collector leaves it alone (rathaus/core/heap.py). Every phase alike.
            freeze_long_lived()
            barrier.wait()
            cpu = _cpu()
            extra = prepare()
            queue.put({"cpu": _cpu() - cpu, "extra": extra})
        except BaseException:  # noqa: BLE001 - reported to the parent, which stops the run
            barrier.abort()
            queue.put({"cpu": 0.0, "error": traceback.format_exc()})

    return child


def _submitter(share, town_id, service_id, start_jobs, profile):
    """Child of the full-stack and process-only phases: returns the timed part as a function."""
    from unittest import mock

    from rathaus.applications.services import application_submit
    from rathaus.catalog.models import Service
    from rathaus.processes.services import process_start
    from rathaus.tenants.models import Municipality

    town = Municipality.objects.get(pk=town_id)
    service = Service.objects.select_related("form").get(pk=service_id)

    def submit(i: int):
        # As the API view calls it: the service opens its own transactions (reference number, submission).
        return application_submit(municipality=town, service=service, data=_dog(i)).application

    for i in share[:WARMUP]:  # model cache, fonts, templates, connection
        submit(i)
    timed = share[WARMUP:]
    if start_jobs:
        def run():
            return _profiled(profile, lambda: [submit(i) for i in timed])
        return run
    # No job after these submissions (it would start the process): process_start alone is timed below.
    with mock.patch("rathaus.applications.tasks.application_received"):
        pending = [submit(i) for i in timed]

    def run_process_only():
        return _profiled(profile, lambda: [process_start(application=a) for a in pending])
    return run_process_only


def _profiled(path: str | None, work) -> None:
    if not path:
        work()
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(work)
    profiler.dump_stats(f"{path}.{os.getpid()}")
    return None


# ---------------------------------------------------------------- in memory


def _engine_model():
    from rathaus.processes.demo import demo_files
    from rathaus_domain.processes.engine import ProcessModel, ServiceStepRegistry

    registry = ServiceStepRegistry()
    for name, result in RESULTS.items():
        registry.add(name, lambda ctx, r=result: r)
    files = demo_files("hund-anmelden")
    return ProcessModel.from_files(files[:1], files[1:], registry=registry), registry


def _our_engine(share):
    from rathaus_domain.processes.engine import ProcessRun

    model, registry = _engine_model()

    def one(i: int) -> None:
        run = ProcessRun(model, registry=registry, case_ref=f"MUS-{i}")
        data = _dog(i)
        data["case_ref"] = f"MUS-{i}"
        run.start(data)
        assert run.completed
        run.serialize()
        run.drain_events()

    for i in share[:WARMUP]:
        one(i)
    return lambda: [one(i) for i in share[WARMUP:]] and None


PLAIN_DMN_REASON = ""


def _plain_spiff_model():
    """SpiffWorkflow's Camunda parser on the demo BPMN; returns (spec, subprocess specs, why the DMN cannot run)."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
    from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
    from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
    from SpiffWorkflow.camunda.parser import CamundaParser
    from SpiffWorkflow.camunda.parser.task_spec import ScriptTaskParser

    from rathaus.processes.demo import DEMO_DIR, DEMO_PROCESSES

    bpmn, dmn = (str(DEMO_DIR / name) for name in DEMO_PROCESSES["hund-anmelden"])
    # First as it is, DMN included: SpiffWorkflow evaluates table cells as Python.
    parser = CamundaParser()
    parser.add_bpmn_file(bpmn)
    parser.add_dmn_file(dmn)
    workflow = BpmnWorkflow(parser.get_spec("dog_registration"), parser.get_subprocess_specs("dog_registration"))
    workflow.task_tree.data.update(_plain_data(0))
    reason = ""
    try:
        _plain_run(workflow, supply_decision=False)
    except Exception as exc:  # noqa: BLE001 - the reason is printed
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]

    class ExternalDecision(TaskParser):
        @staticmethod
        def get_decision_ref(node):
            return None

    class Parser(CamundaParser):
        # The business-rule task becomes an external task whose result the loop supplies; a script
        # with a supplied result (our evaluator's functions) gets it instead of running.
        OVERRIDE_PARSER_CLASSES = {**CamundaParser.OVERRIDE_PARSER_CLASSES,
                                   full_tag("businessRuleTask"): (ExternalDecision, ServiceTask),
                                   full_tag("scriptTask"): (ScriptTaskParser, _supplied_script_class())}

    parser = Parser()
    parser.add_bpmn_file(bpmn)
    return parser.get_spec("dog_registration"), parser.get_subprocess_specs("dog_registration"), reason


_PLAIN_RESULTS = {"check_documents": RESULTS["check_documents"], "issue_decision": RESULTS["issue_decision"],
                  "notify": RESULTS["notify_citizen"], "set_approved": RESULTS["set_status"],
                  "notify_payment": RESULTS["notify_citizen"], "set_approved_payment": RESULTS["set_status"],
                  "decide_tax": {"fee": 120, "needs_review": False, "reason": "Weiterer Hund"},
                  "compute_tax": {"tax_from": "2026-12-01", "tax_months": 1, "tax_due_now": 10.0}}


@functools.cache
def _supplied_script_class():
    """SpiffWorkflow's script task, except that a script with a result in _PLAIN_RESULTS gets that result."""
    from SpiffWorkflow.bpmn.specs.defaults import ScriptTask

    class SuppliedScript(ScriptTask):
        def _execute(self, task):
            result = _PLAIN_RESULTS.get(self.bpmn_id)
            if result is None:
                return super()._execute(task)
            task.data.update(result)
            return True

    return SuppliedScript


def _plain_data(i: int) -> dict:
    data = _dog(i)
    data["case_ref"] = f"MUS-{i}"
    return data


def _plain_run(workflow, *, supply_decision: bool = True) -> None:
    """SpiffWorkflow's engine loop; service tasks are external tasks completed with the step results."""
    from SpiffWorkflow.util.task import TaskState

    workflow.do_engine_steps()
    while not workflow.is_completed():
        waiting = workflow.get_tasks(state=TaskState.STARTED | TaskState.READY)
        if not waiting:
            raise RuntimeError("plain SpiffWorkflow: the process stopped before its end")
        for task in waiting:
            result = _PLAIN_RESULTS.get(task.task_spec.bpmn_id)
            if result is None or (task.task_spec.bpmn_id == "decide_tax" and not supply_decision):
                task.run()
                continue
            task.data.update(result)
            task.complete() if task.state == TaskState.STARTED else task.run()
        workflow.do_engine_steps()


def _plain_spiff(share):
    import json

    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter, ScriptTaskConverter
    from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

    spec, subprocess_specs, _reason = _plain_spiff_model()
    config = dict(CAMUNDA_CONFIG)
    config[ServiceTask] = BpmnTaskSpecConverter  # the default configuration has no converter for it
    config[_supplied_script_class()] = ScriptTaskConverter
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))

    def one(i: int) -> None:
        workflow = BpmnWorkflow(spec, subprocess_specs)
        workflow.task_tree.data.update(_plain_data(i))
        _plain_run(workflow)
        assert workflow.is_completed()
        json.dumps(serializer.to_dict(workflow))

    for i in share[:WARMUP]:
        one(i)
    return lambda: [one(i) for i in share[WARMUP:]] and None


# ---------------------------------------------------------------- main


def _shares(first: int, cases: int, parts: int) -> list[list[int]]:
    numbers = list(range(first, first + cases))
    shares = [numbers[k::parts] for k in range(parts)]
    return [[first + 900_000 + 10 * k + w for w in range(WARMUP)] + share for k, share in enumerate(shares)]


def _settings(args, media: str) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "rathaus.config.settings.production",
        "DATABASE_URL": args.database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "http://127.0.0.1",
        "RATHAUS_VAR_DIR": media,
        "MEDIA_ROOT": str(Path(media) / "media"),
        "EMAIL_URL": f"filemail:///{Path(media) / 'mail'}",
        "CACHE_URL": "locmemcache://",
        "TASKS_BACKEND": {"immediate": "django_tasks.backends.immediate.ImmediateBackend",
                          "db": "django_tasks_db.DatabaseBackend"}[args.tasks],
        "LOG_LEVEL": "ERROR",
    })
    os.environ.pop("DEBUG", None)


def _db_workers(count: int) -> list[subprocess.Popen]:
    from django.db import connection

    env = dict(os.environ, DATABASE_URL=os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
               PYTHONPATH=str(ROOT / "src"))
    return [subprocess.Popen([sys.executable, "-m", "rathaus.cli", "worker", "--interval", "0.05", "--no-scheduler"],
                             env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="processes with their own connection that submit (default: 2 per CPU, so waits overlap)")
    parser.add_argument("--tasks", choices=["db", "immediate"], default="db",
                        help="db (default, as in production): django-tasks-db and `rathaus worker` processes run the jobs; "
                             "immediate: each job runs in the submitting process right after commit")
    parser.add_argument("--db-workers", type=int, default=os.cpu_count() or 1,
                        help="`rathaus worker` processes with --tasks db (default: 1 per CPU, as the README advises; "
                             "2 per CPU did fewer cases/s and more CPU per case)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rathaus_bench_processes"))
    parser.add_argument("--profile", metavar="PREFIX", help="write cProfile data of each worker's timed part to PREFIX.<pid>")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    media = tempfile.mkdtemp(prefix="rathaus-bench-")
    _settings(args, media)
    import django

    django.setup()
    from django.db import connection

    from rathaus.applications.models import Application
    from rathaus.cases.models import Document
    from rathaus.core.audit import audit_verify
    from rathaus.processes.models import OutboxMessage, ProcessInstance

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    workers: list[subprocess.Popen] = []
    try:
        town, service = demo_town()
        if args.tasks == "db":
            workers = _db_workers(args.db_workers)

        shares = _shares(1000, args.cases, args.workers)
        worker_cpu = [0.0]

        def warm_workers() -> None:
            # The warm-up submissions' jobs warm the worker processes (model, fonts) before timing.
            _drain_queue()
            worker_cpu[0] = _proc_cpu([w.pid for w in workers])

        full_wall, full_cpu, _ = _parallel(_child(_submitter), shares, town.pk, service.pk, True, args.profile,
                                           before_start=warm_workers if args.tasks == "db" else None)
        if args.tasks == "db":
            full_wall += _wait_for_jobs(args.cases + WARMUP * args.workers)
            full_cpu += _proc_cpu([w.pid for w in workers]) - worker_cpu[0]
        full_machine = _machine_cpu() - _MACHINE[0]
        done = ProcessInstance.objects.filter(status="completed").count()
        expected = args.cases + WARMUP * args.workers
        assert done == expected, f"only {done} of {expected} processes completed"

        shares = _shares(500_000, args.cases, args.workers)
        process_wall, process_cpu, _ = _parallel(_child(_submitter), shares, town.pk, service.pk, False, args.profile)
        if args.tasks == "db":
            _drain_queue()  # the e-mail jobs the timed process starts enqueued (not timed, but in the machine's CPU)
        process_machine = _machine_cpu() - _MACHINE[0]
        from rathaus.processes.outbox import outbox_deliver_pending

        while outbox_deliver_pending(limit=500):  # the receipts of that phase (its job did not run; not timed)
            pass
        approved = Application.objects.filter(status="approved").count()
        assert approved == 2 * expected, f"{approved} approved, expected {2 * expected}"
        assert Document.objects.filter(document_type="decision").count() == 2 * expected, \
            "every case needs its decision letter"
        assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), "every outbox message must be delivered"
        mails = sum(path.read_text(errors="replace").count("\nMessage-ID: ") for path in (Path(media) / "mail").iterdir())
        # Receipt and decision notice per case, in both phases.
        assert mails == 4 * expected, f"{mails} e-mails written, expected {4 * expected} (2 per case)"
        assert audit_verify() == [], "the audit hash chain must verify after the run"
        vendor = connection.vendor
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(media, ignore_errors=True)

    memory_cases = max(args.cases, 200 * cpus)
    shares = _shares(0, memory_cases, cpus)
    ours_wall, ours_cpu, _ = _parallel(_child(_our_engine), shares)
    _spec, _subs, plain_reason = _plain_spiff_model()
    plain_wall, plain_cpu, _ = _parallel(_child(_plain_spiff), shares)

    full, process_only = args.cases / full_wall, args.cases / process_wall
    ours, plain = memory_cases / ours_wall, memory_cases / plain_wall
    print(f"database: {vendor}, cases: {args.cases} (+{WARMUP} warm-up per worker), cpus: {cpus}, "
          f"workers: {args.workers} with their own connection, jobs: {args.tasks}"
          + (f" ({args.db_workers} `rathaus worker` processes)" if args.tasks == "db" else " (run in the submitting process after commit)"))
    print(f"checked: every process completed, {2 * expected} decision letters stored, {mails} e-mails written "
          "(receipt and decision notice per case), outbox empty, audit hash chain verifies")
    print("                                                           cases/s   CPU ms/case (bench processes)   "
          "machine CPU ms/case (PostgreSQL included)")
    print(f"full stack (submission, process, PDFs, e-mails, audit):   {full:8.1f}   {1000 * full_cpu / args.cases:8.2f}"
          f"                        {1000 * full_machine / args.cases:8.2f}")
    print(f"process only (process_start: engine, DB, decision letter): {process_only:7.1f}   {1000 * process_cpu / args.cases:8.2f}"
          f"                        {1000 * process_machine / args.cases:8.2f}")
    print(f"in memory, our engine (ProcessRun, same BPMN + DMN):      {ours:8.1f}   {1000 * ours_cpu / memory_cases:8.2f}")
    print(f"in memory, plain SpiffWorkflow (same BPMN, own parser):   {plain:8.1f}   {1000 * plain_cpu / memory_cases:8.2f}")
    if plain_reason:
        print(f"  plain SpiffWorkflow cannot run our DMN table unchanged, so the decision's output is supplied like an "
              f"external task's: {plain_reason}")
    print(f"ratios: our engine / full stack {ours / full:.1f}x, our engine / process only {ours / process_only:.1f}x, "
          f"plain SpiffWorkflow / full stack {plain / full:.1f}x, plain SpiffWorkflow / our engine {plain / ours:.2f}x")
    print(f"target ≥ {TARGET:.0f} cases/s end to end on 2 cores: {'met' if full >= TARGET else 'missed'} "
          f"({full:.1f} cases/s on {cpus} cores)")


def demo_town():
    """The town and its dog registration with the demo process, in the (new) database; returns both."""
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.tenants.models import Municipality

    town = Municipality.objects.create(slug="musterstadt", name="Musterstadt", ags="09999001", reference_prefix="MUS",
                                       contact_email="info@musterstadt.example")
    form = form_definition_create(municipality=town, key="hund", title="Hund", schema=demo_forms.dog_registration())
    service = service_upsert(municipality=town, slug="hund-anmelden", form=form, leika_key="99108002001000",
                             name="Hund", summary="Kurz", office="Bürgerbüro", processing_days=5)
    attach_demo_processes(town, {"hund-anmelden": service})
    return town, service


def _drain_queue(timeout: float = 600) -> None:
    from django_tasks_db.models import DBTaskResult

    start = time.perf_counter()
    while DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists():
        if time.perf_counter() - start > timeout:
            raise SystemExit("the worker processes did not finish the jobs in time")
        time.sleep(0.05)


def _wait_for_jobs(expected: int, timeout: float = 600) -> float:
    """With --tasks db: wait until every process ended and the queue is empty; returns the extra seconds."""
    from django_tasks_db.models import DBTaskResult

    from rathaus.processes.models import ProcessInstance

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if (ProcessInstance.objects.filter(status="completed").count() >= expected
                and not DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists()):
            return time.perf_counter() - start
        time.sleep(0.02)
    raise SystemExit("the worker processes did not finish the jobs in time")


if __name__ == "__main__":
    main()
