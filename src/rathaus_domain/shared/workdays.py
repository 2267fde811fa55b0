"""Working days in Germany: Monday to Friday except the public holidays of the state.

Deadlines of the administration ("within 10 working days") skip weekends and the statutory public
holidays. Most holidays hold in the whole country; some only in some states (Länder), which the
first two digits of a municipality's Amtlicher Gemeindeschlüssel name ("09" Bayern). Holidays of
only part of a state (Mariä Himmelfahrt in Catholic Bavarian towns, Fronleichnam in a few towns of
Saxony and Thuringia) and one-off holidays are not counted: a deadline then ends a day early,
never late.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["add_working_days", "easter_sunday", "is_working_day", "public_holidays"]

# State keys (Länderschlüssel) of the AGS.
_SH, _HH, _NI, _HB, _NW, _HE, _RP, _BW, _BY, _SL, _BE, _BB, _MV, _SN, _ST, _TH = (
    f"{n:02d}" for n in range(1, 17))


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=256)
def public_holidays(year: int, state: str | None = None) -> frozenset[date]:
    """The public holidays of ``year`` in the whole country plus those of ``state`` ("01" to "16")."""
    easter = easter_sunday(year)
    days = {date(year, 1, 1), easter - timedelta(days=2), easter + timedelta(days=1), date(year, 5, 1),
            easter + timedelta(days=39), easter + timedelta(days=50), date(year, 10, 3), date(year, 12, 25),
            date(year, 12, 26)}
    if state in (_BW, _BY, _ST):
        days.add(date(year, 1, 6))  # Heilige Drei Könige
    if (state == _BE and year >= 2019) or (state == _MV and year >= 2023):
        days.add(date(year, 3, 8))  # Internationaler Frauentag
    if state in (_BW, _BY, _HE, _NW, _RP, _SL):
        days.add(easter + timedelta(days=60))  # Fronleichnam
    if state == _SL:
        days.add(date(year, 8, 15))  # Mariä Himmelfahrt
    if state == _TH and year >= 2019:
        days.add(date(year, 9, 20))  # Weltkindertag
    if year == 2017 or state in (_BB, _MV, _SN, _ST, _TH) or (state in (_SH, _HH, _NI, _HB) and year >= 2018):
        days.add(date(year, 10, 31))  # Reformationstag
    if state in (_BW, _BY, _NW, _RP, _SL):
        days.add(date(year, 11, 1))  # Allerheiligen
    if state == _SN:
        days.add(date(year, 11, 22) - timedelta(days=(date(year, 11, 22).weekday() - 2) % 7))  # Buß- und Bettag
    return frozenset(days)


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
