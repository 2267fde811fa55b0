"""Timer values at the ends of the calendar: an error naming the value, never a hang or a traceback."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rathaus_domain.processes.evaluator import ExpressionError
from rathaus_domain.processes.expressions import add_duration, add_timedelta, check_timer, parse_cycle, parse_duration


@pytest.fixture
def within_two_seconds() -> Iterator[None]:
    """Fail a call that does not return instead of hanging the test run."""

    def give_up(signum: int, frame: Any) -> None:
        raise TimeoutError("did not return within 2 s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(2)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        # A month after December 9999 has no day: the search for the month's last day never ended.
        ("timeCycle", "R2/9999-12-15T00:00:00Z/P1M"),
        ("timeCycle", "R2/P1M/0001-01-15T00:00:00Z"),
        ("timeCycle", "R2/9999-12-31T23:59:59Z/P1D"),
        ("timeCycle", "R2/P1D/0001-01-01"),
        ("timeCycle", "R/PT1H/0001-01-01T00:00:00Z"),
    ],
)
def test_a_timer_value_beyond_the_calendar_is_an_error_when_checked(within_two_seconds: None, kind: str, text: str) -> None:
    with pytest.raises(ExpressionError, match="out of range"):
        check_timer(kind, text)


LAST_DAY = datetime(9999, 12, 31, 12, 0, tzinfo=UTC)
FIRST_DAY = datetime(1, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "call",
    [
        lambda: parse_duration("P1M", LAST_DAY),
        lambda: add_duration("P1Y", LAST_DAY),
        lambda: add_duration("P1D", LAST_DAY),
        lambda: add_duration("PT12H", LAST_DAY),
        lambda: add_duration("P1M", FIRST_DAY, times=-1),
        lambda: parse_cycle("R3/P1D", LAST_DAY),
    ],
    ids=["P1M", "P1Y", "P1D", "PT12H", "-P1M", "cycle"],
)
def test_moving_a_moment_past_the_calendar_is_an_error(within_two_seconds: None, call: Callable[[], Any]) -> None:
    with pytest.raises(ExpressionError, match="out of range"):
        call()


def test_durations_within_the_calendar_still_count_by_the_calendar() -> None:
    assert add_duration("P1M", datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_duration("P1M", datetime(9999, 11, 30, tzinfo=UTC)) == datetime(9999, 12, 30, tzinfo=UTC)
    assert add_duration("PT11H", LAST_DAY) == datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    assert add_timedelta(FIRST_DAY, timedelta(hours=-12)) == datetime(1, 1, 1, tzinfo=UTC)
