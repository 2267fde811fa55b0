"""iCalendar (RFC 5545) export of offers' dates, written by hand: a few dozen lines need no library.

Local times carry TZID=Europe/Berlin with its VTIMEZONE, so weekly dates stay at 17:00 across
daylight-saving changes; single dates are exported in the same zone for consistency.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

TZID = "Europe/Berlin"
_ZONE = ZoneInfo(TZID)
_BYDAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]

# Central European Time with the EU rules since 1996 (last Sunday of March / October).
_VTIMEZONE = [
    "BEGIN:VTIMEZONE", f"TZID:{TZID}",
    "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST",
    "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
    "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET",
    "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "END:VTIMEZONE",
]


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Fold a content line to at most 75 octets, never splitting a UTF-8 character (RFC 5545 3.1)."""
    out: list[str] = []
    current: list[str] = []
    size, limit = 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, 75
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n".join(out)


def _local(value: datetime) -> str:
    return timezone.localtime(value, _ZONE).strftime("%Y%m%dT%H%M%S")


def _utc(value: datetime) -> str:
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def _next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


class Calendar:
    """Collects VEVENTs and renders one VCALENDAR."""

    def __init__(self, name: str, host: str) -> None:
        self.name, self.host = name, host
        self.events: list[list[str]] = []
        self.stamp = _utc(timezone.now())

    def add_event(self, *, uid: str, summary: str, start: datetime, end: datetime | None, description: str = "",
                  location: str = "", url: str = "", rrule: str = "", geo: tuple[float, float] | None = None) -> None:
        lines = ["BEGIN:VEVENT", f"UID:{uid}@{self.host}", f"DTSTAMP:{self.stamp}",
                 f"DTSTART;TZID={TZID}:{_local(start)}"]
        if end is not None and end > start:
            lines.append(f"DTEND;TZID={TZID}:{_local(end)}")
        if rrule:
            lines.append(f"RRULE:{rrule}")
        lines.append(f"SUMMARY:{escape_text(summary)}")
        if description:
            lines.append(f"DESCRIPTION:{escape_text(description)}")
        if location:
            lines.append(f"LOCATION:{escape_text(location)}")
        if geo is not None:
            lines.append(f"GEO:{geo[0]:.6f};{geo[1]:.6f}")
        if url:
            lines.append(f"URL:{url}")
        lines.append("END:VEVENT")
        self.events.append(lines)

    def render(self) -> str:
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Rathaus//Boersen//DE", "CALSCALE:GREGORIAN",
                 "METHOD:PUBLISH", f"X-WR-CALNAME:{escape_text(self.name)}", f"X-WR-TIMEZONE:{TZID}", *_VTIMEZONE]
        for event in self.events:
            lines.extend(event)
        lines.append("END:VCALENDAR")
        return "".join(fold(line) + "\r\n" for line in lines)


def add_offer(calendar: Calendar, offer, url: str, today: date | None = None) -> None:
    """Add an offer's weekly slots (as recurring events) and its single dates."""
    today = today or timezone.localdate()
    location = ", ".join(p for p in (offer.place_name, offer.address_line) if p)
    geo = (float(offer.latitude), float(offer.longitude)) if offer.has_location else None
    description = offer.description
    if offer.schedule_note:
        description = f"{description}\n\n{offer.schedule_note}"
    for slot in offer.slots.all():
        first = _next_weekday(max(offer.valid_from or today, today), slot.weekday)
        start = datetime.combine(first, slot.start_time, _ZONE)
        end = datetime.combine(first, slot.end_time, _ZONE)
        rrule = f"FREQ=WEEKLY;BYDAY={_BYDAY[slot.weekday]}"
        if offer.valid_until:
            # UNTIL must be UTC when DTSTART has a TZID (RFC 5545 3.3.10).
            rrule += f";UNTIL={_utc(datetime.combine(offer.valid_until, time(23, 59, 59), _ZONE))}"
        calendar.add_event(uid=f"offer-{offer.pk}-slot-{slot.pk}", summary=offer.title, start=start, end=end,
                           description=description, location=location, url=url, rrule=rrule, geo=geo)
    for item in offer.dates.all():
        summary = f"{offer.title} – {item.note}" if item.note else offer.title
        calendar.add_event(uid=f"offer-{offer.pk}-date-{item.pk}", summary=summary, start=item.starts_at,
                           end=item.ends_at, description=description, location=location, url=url, geo=geo)


def offers_calendar(name: str, host: str, offers: Iterable, url_for) -> str:
    calendar = Calendar(name, host)
    for offer in offers:
        add_offer(calendar, offer, url_for(offer))
    return calendar.render()
