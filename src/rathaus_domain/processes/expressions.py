"""Expressions as they appear in BPMN files, and timer values.

Three spellings are accepted wherever a BPMN model holds an expression (sequence-flow
conditions, timer values, due dates, service-task parameters):

* ``amount > 100`` — our safe expression language (:mod:`.evaluator`), as SpiffWorkflow
  models write conditions;
* ``${amount > 100}`` — Camunda 7 style; the part inside ``${…}`` is read in the same safe
  language (JUEL itself is not supported, but simple JUEL is valid there too; other JUEL is
  refused with what to write instead, see :mod:`.hints`);
* ``=amount > 100`` — Camunda 8 (Zeebe) style; the part after ``=`` is FEEL (:mod:`.feel`).

Timer values may also be ISO 8601 literals as Camunda Modeler writes them (``P14D``,
``2026-03-01T09:00:00+01:00``, ``R3/P7D``); everything else is evaluated to such a text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta, tzinfo
from typing import Any

from . import evaluator, feel
from .evaluator import CompiledExpression, ExpressionError, SourceCache, date_out_of_range

__all__ = [
    "ProcessExpression",
    "TimerCycle",
    "add_duration",
    "add_timedelta",
    "check_timer",
    "compile_process_expression",
    "format_duration",
    "parse_cycle",
    "parse_datetime",
    "parse_duration",
    "timer_literal_kind",
]

MAX_TIMER_YEARS = 100


@dataclass(frozen=True, eq=False)
class ProcessExpression:
    """A checked expression from a BPMN file; ``dialect`` is "python", "juel" or "feel"."""

    text: str
    dialect: str
    compiled: CompiledExpression

    def evaluate(self, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
        """Evaluate against the task data (in FEEL a name the data lacks is null)."""
        if self.dialect == "feel":
            context = feel.with_nulls(self.compiled, context)
        return self.compiled.evaluate(context, now=now)


def compile_process_expression(text: str) -> ProcessExpression:
    """Check and compile a BPMN expression in any of the three spellings (cached)."""
    return _cached_process_expression(text)


def _compile_process_expression(text: str) -> ProcessExpression:
    stripped = (text or "").strip()
    if not stripped:
        raise ExpressionError("Leerer Ausdruck", "empty expression")
    if stripped.startswith("=") and not stripped.startswith("=="):
        return ProcessExpression(stripped, "feel", feel.compile_expression(stripped[1:], missing_is_null=True).compiled)
    if stripped[:2] in ("${", "#{") and stripped.endswith("}"):
        return ProcessExpression(stripped, "juel", evaluator.compile_expression(stripped[2:-1]))
    return ProcessExpression(stripped, "python", evaluator.compile_expression(stripped))


# A FEEL text's translation (what the tree is made of) is a few times longer than the text.
_cached_process_expression = SourceCache(_compile_process_expression, lambda expression: len(expression.compiled.source),
                                         max_chars=250_000)


# --------------------------------------------------------------------------------------------
# ISO 8601 timer values

_DURATION_RE = re.compile(
    r"^P(?!$)(?:(?P<years>\d{1,3})Y)?(?:(?P<months>\d{1,4})M)?(?:(?P<weeks>\d{1,4})W)?(?:(?P<days>\d{1,5})D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d{1,6})H)?(?:(?P<minutes>\d{1,8})M)?(?:(?P<seconds>\d{1,9}(?:[.,]\d+)?)S)?)?$"
)
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_CYCLE_RE = re.compile(r"^R(?P<count>\d{0,6})/(?P<rest>.+)$")
# Texts that were clearly meant as ISO 8601 values (P14X, R3/P7, 2026-13-45) are typos, not names.
_ALMOST_ISO_RE = re.compile(r"^(P\d|PT\d|R\d*/|\d{4}-)")


def timer_literal_kind(text: str) -> str | None:
    """ "duration", "datetime" or "cycle" if ``text`` is an ISO 8601 literal, else None."""
    value = text.strip().upper()
    if _DURATION_RE.match(value):
        return "duration"
    if _DATETIME_RE.match(value):
        return "datetime"
    match = _CYCLE_RE.match(value)
    if match and all(_DURATION_RE.match(p) or _DATETIME_RE.match(p) for p in match.group("rest").split("/")):
        return "cycle"
    return None


def _timer_error(text: str, what_de: str, what_en: str) -> ExpressionError:
    return ExpressionError(f"«{text}» ist {what_de} nach ISO 8601", f"«{text}» is {what_en} in ISO 8601 form")


def _duration_parts(text: str, start: datetime, times: int = 1) -> tuple[datetime, timedelta]:
    """``start`` moved by ``times`` the calendar part of the duration (years, months, weeks, days), and
    ``times`` its clock part (``times`` may be negative: counted backwards)."""
    match = _DURATION_RE.match(text.strip().upper())
    if not match:
        raise _timer_error(text, "keine Dauer wie P14D oder PT2H", "not a duration like P14D or PT2H")
    parts = {k: v for k, v in match.groupdict().items() if v}
    months = (int(parts.pop("years", 0)) * 12 + int(parts.pop("months", 0))) * times
    if abs(months) > MAX_TIMER_YEARS * 12:
        raise ExpressionError("Zeitraum zu lang", "duration too long")
    end = start
    if months:
        index = start.year * 12 + start.month - 1 + months
        year, month = divmod(index, 12)
        if not MINYEAR <= year <= MAXYEAR:
            # (the search for the month's last day below would never end: no day of year 10000 exists)
            raise date_out_of_range()
        day = start.day
        while True:
            try:
                end = start.replace(year=year, month=month + 1, day=day)
                break
            except ValueError:
                day -= 1
    days = timedelta(weeks=int(parts.get("weeks", 0)), days=int(parts.get("days", 0))) * times
    if days:  # (adding even nothing would lose the fold: which 02:30 of the night the clocks go back)
        try:
            end += days
        except OverflowError:
            raise date_out_of_range() from None
    clock = timedelta(
        hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)),
        seconds=float(parts.get("seconds", "0").replace(",", ".")),
    ) * times
    if abs((end - start) + clock) > timedelta(days=366 * MAX_TIMER_YEARS):
        raise ExpressionError("Zeitraum zu lang", "duration too long")
    return end, clock


def parse_duration(text: str, start: datetime) -> timedelta:
    """Length of an ISO 8601 duration counted from ``start`` (months and years by calendar)."""
    end, clock = _duration_parts(text, start)
    return (end - start) + clock


def _elapsed(moment: datetime, clock: timedelta) -> datetime:
    """``moment`` plus ``clock`` as time that passes, also across a change of the clocks (summer time)."""
    if not clock:
        return moment
    try:
        return (moment.astimezone(UTC) + clock).astimezone(moment.tzinfo)
    except OverflowError:
        raise date_out_of_range() from None


def add_duration(text: str, start: datetime, *, times: int = 1) -> datetime:
    """The moment an ISO 8601 duration after ``start``.

    Years, months, weeks and days count on the calendar of ``start``'s zone: ``P1D`` is the same
    time of day tomorrow, also on the night the clocks change. Hours, minutes and seconds count
    as time that passes: ``PT2H`` is two hours later, also on that night (when the clock may
    then show one or three hours later).
    """
    end, clock = _duration_parts(text, start, times)
    return _elapsed(end, clock)


def add_timedelta(start: datetime, delta: timedelta) -> datetime:
    """``start`` plus a duration an expression computed: its days on the calendar, the rest as time that passes."""
    length = abs(delta)
    days = timedelta(days=length.days)
    if not days:
        return _elapsed(start, delta)
    # (past the calendar, an OverflowError: the engine names the due date that caused it)
    if delta < timedelta(0):
        return _elapsed(start - days, -(length - days))
    return _elapsed(start + days, length - days)


def format_duration(delta: timedelta) -> str:
    """ISO 8601 text for a timedelta (days and seconds)."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        raise ExpressionError("Negative Dauer", "negative duration")
    days, rest = divmod(seconds, 86_400)
    return f"P{days}DT{rest}S"


def parse_datetime(text: str, tz: tzinfo | None) -> datetime:
    """An ISO 8601 date or date-time; naive values are read in ``tz`` (the clock's zone)."""
    value = text.strip()
    if not _DATETIME_RE.match(value.upper()):
        raise _timer_error(text, "kein Zeitpunkt wie 2026-03-01T09:00:00+01:00", "not a date-time like 2026-03-01T09:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _timer_error(text, "kein gültiger Zeitpunkt", "not a valid date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


@dataclass(frozen=True)
class TimerCycle:
    """A parsed ``R<n>/…`` value: ``cycles`` is -1 for unbounded repetition."""

    cycles: int
    start: datetime
    interval: timedelta
    interval_text: str = ""  # the ISO 8601 duration as written (P1D), to count it on the calendar
    local: bool = True  # the start is on the run's clock (not written with an offset or Z of its own)


def parse_cycle(text: str, now: datetime) -> TimerCycle:
    """Parse ``R3/P7D``, ``R/P1D``, ``R2/2026-01-01T08:00:00Z/P1D`` or ``R2/P1D/2026-02-01``."""
    match = _CYCLE_RE.match(text.strip().upper())
    if not match:
        raise _timer_error(text, "kein Zyklus wie R3/P7D", "not a cycle like R3/P7D")
    cycles = int(match.group("count")) if match.group("count") else -1
    parts = match.group("rest").split("/")
    if len(parts) == 1:
        interval_text = parts[0]
        interval = parse_duration(interval_text, now)
        start = add_duration(interval_text, now)
    elif len(parts) == 2 and _DATETIME_RE.match(parts[0]):
        interval_text = parts[1]
        start = parse_datetime(parts[0], now.tzinfo)
        interval = parse_duration(interval_text, start)
    elif len(parts) == 2 and _DATETIME_RE.match(parts[1]):
        interval_text = parts[0]
        end = parse_datetime(parts[1], now.tzinfo)
        interval = parse_duration(interval_text, now)
        start = add_duration(interval_text, end, times=-1)
    else:
        raise _timer_error(text, "kein Zyklus wie R3/P7D", "not a cycle like R3/P7D")
    if interval <= timedelta(0):
        raise ExpressionError("Zyklus braucht eine positive Dauer", "a cycle needs a positive interval")
    return TimerCycle(cycles=cycles, start=start, interval=interval, interval_text=interval_text,
                      local=start.tzinfo is now.tzinfo)


def check_timer(kind: str, text: str) -> None:
    """Static check of a timer value; ``kind`` is timeDate, timeDuration or timeCycle."""
    literal = timer_literal_kind(text)
    if literal is None:
        if _ALMOST_ISO_RE.match(text.strip().upper()):
            raise _timer_error(text, "kein gültiger Wert", "not a valid value")
        compile_process_expression(text)
        return
    expected = {"timeDate": "datetime", "timeDuration": "duration", "timeCycle": "cycle"}.get(kind)
    if expected and literal != expected:
        raise ExpressionError(
            f"{kind} erwartet einen Wert der Art «{expected}», nicht «{text}»",
            f"{kind} expects a value of kind «{expected}», not «{text}»",
        )
    reference = datetime(2026, 1, 1, tzinfo=UTC)
    if literal == "duration":
        parse_duration(text, reference)
    elif literal == "datetime":
        parse_datetime(text, None)
    else:
        parse_cycle(text, reference)


def timer_text(value: Any) -> str:
    """Turn the value of an evaluated timer expression into ISO 8601 text."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    raise ExpressionError(
        f"Ein Timer braucht einen Text, ein Datum oder eine Dauer, nicht {type(value).__name__}",
        f"a timer needs a text, a date or a duration, not {type(value).__name__}",
    )
