"""Working days in Germany: Monday to Friday except the public holidays of the state.

Deadlines of the administration ("within 10 working days") skip weekends and the statutory public
holidays. Which days those are comes from the ``holidays`` library (python-holidays), which keeps the
national and per-state (Land) holidays, including one-off ones such as Berlin's 8 May 2025. A
municipality's state is the first two digits of its Amtlicher Gemeindeschlüssel ("09" Bayern).
Holidays of only part of a state (Mariä Himmelfahrt in Catholic Bavarian towns, the Augsburger
Friedensfest) are not counted: a deadline then ends a day early, never late.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

__all__ = ["add_working_days", "first_working_day", "is_working_day", "months_after", "period_end", "public_holidays"]

# The AGS's state key (Länderschlüssel) and the state's ISO 3166-2 code that the library uses.
_STATES = dict(zip([f"{n:02d}" for n in range(1, 17)],
                   "SH HH NI HB NW HE RP BW BY SL BE BB MV SN ST TH".split(), strict=True))


@lru_cache(maxsize=256)
def public_holidays(year: int, state: str | None = None) -> frozenset[date]:
    """The public holidays of ``year`` in the whole country plus those of ``state`` ("01" to "16"; another value: none)."""
    import holidays  # here, not at start-up (about 40 ms): only a deadline needs it, and the result is cached

    return frozenset(holidays.country_holidays("DE", subdiv=_STATES.get(state or ""), years=year).keys())


def is_working_day(day: date, state: str | None = None) -> bool:
    """Monday to Friday and no public holiday (of the country or of ``state``)."""
    return day.weekday() < 5 and day not in public_holidays(day.year, state)


def add_working_days(start: date, days: int, state: str | None = None) -> date:
    """The day ``days`` working days after ``start`` (``start`` itself not counted; 0: ``start``)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if is_working_day(current, state):
            days -= 1
    return current


def last_working_day_before(day: date, state: str | None = None) -> date:
    """The last working day before ``day`` (``day`` itself not counted)."""
    day -= timedelta(days=1)
    while not is_working_day(day, state):
        day -= timedelta(days=1)
    return day


def first_working_day(day: date, state: str | None = None) -> date:
    """``day`` itself if it is a working day, else the next one (a deadline does not end on a
    weekend or a public holiday, § 31 (3) VwVfG)."""
    while not is_working_day(day, state):
        day += timedelta(days=1)
    return day


def months_after(day: date, months: int) -> date:
    """The day with the same number ``months`` later (earlier if negative), or the last day of that
    month if it has none: a period of months ends so (§ 188 (2), (3) BGB; 31 January + 1: 28 February)."""
    year, index = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, index + 1, min(day.day, calendar.monthrange(year, index + 1)[1]))


def period_end(event_day: date, *, days: int = 0, months: int = 0, state: str | None = None) -> date:
    """The last day of a period of ``days`` or of ``months`` that the event on ``event_day`` sets
    running, e.g. the notice of a decision letter: the day by which to pay, or to object.

    The event's day does not count (§ 187 (1) BGB). A period of days ends with its last day, the
    event's day plus ``days`` (§ 188 (1)); one of months with the day of the last month that has the
    event's number, or that month's last day if it has none (§ 188 (2), (3): notified on 31 January,
    one month ends on 28 or 29 February). An end on a Saturday, a Sunday or a public holiday (of the
    country or of ``state``, "01" to "16") moves to the next working day: § 31 (3) VwVfG for periods
    the authority sets (a letter's period to pay), § 222 (2) ZPO with § 57 (2) VwGO for the period
    of a legal remedy (one month to object or to sue, §§ 70, 74 VwGO).

    Give exactly one of ``days`` and ``months``, a whole number from 1; ValueError otherwise.
    """
    if (days > 0) == (months > 0) or days < 0 or months < 0:
        raise ValueError(f"a period is days or months from 1, not days={days}, months={months}")
    end = event_day + timedelta(days=days) if days else months_after(event_day, months)
    return first_working_day(end, state)
