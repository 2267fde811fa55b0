from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rathaus_domain.shared.workdays import add_working_days, is_working_day, months_after, period_end, public_holidays


def test_the_national_holidays_of_2026():
    assert sorted(public_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 14),
        date(2026, 5, 25), date(2026, 10, 3), date(2026, 12, 25), date(2026, 12, 26)]


def test_state_holidays_count_only_in_their_state():
    assert date(2026, 6, 4) in public_holidays(2026, "09")  # Fronleichnam in Bayern
    assert date(2026, 6, 4) not in public_holidays(2026, "03")  # not in Niedersachsen
    assert date(2026, 10, 31) in public_holidays(2026, "03") and date(2026, 10, 31) not in public_holidays(2026, "09")
    assert date(2026, 11, 18) in public_holidays(2026, "14")  # Buß- und Bettag in Sachsen
    assert date(2026, 3, 8) in public_holidays(2026, "11") and date(2026, 9, 20) in public_holidays(2026, "16")


def test_working_days_skip_weekends_and_holidays():
    # Wednesday 23 December: Thursday 24th counts, Christmas and the weekend do not.
    assert add_working_days(date(2026, 12, 23), 2) == date(2026, 12, 28)
    # Over Easter 2026: Good Friday 3 April and Easter Monday 6 April are no working days.
    assert add_working_days(date(2026, 4, 1), 2) == date(2026, 4, 7)
    # Monday 1 June 2026 plus 3 working days: Thursday 4th is Fronleichnam in Bayern only.
    assert add_working_days(date(2026, 6, 1), 3, "09") == date(2026, 6, 5)
    assert add_working_days(date(2026, 6, 1), 3, "03") == date(2026, 6, 4)
    assert add_working_days(date(2026, 6, 1), 0) == date(2026, 6, 1)


def test_one_off_holidays_count_too():
    # Berlin: 80 years since the end of the Second World War, a holiday in 2025 only.
    assert date(2025, 5, 8) in public_holidays(2025, "11") and date(2026, 5, 8) not in public_holidays(2026, "11")
    assert date(2025, 5, 8) not in public_holidays(2025, "12")
    assert add_working_days(date(2025, 5, 7), 1, "11") == date(2025, 5, 9)


def test_an_unknown_state_key_counts_the_national_holidays_only():
    assert public_holidays(2026, "99") == public_holidays(2026) == public_holidays(2026, "")


def test_a_period_of_months_ends_on_the_same_day_or_the_last_day_of_a_shorter_month():
    assert months_after(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert months_after(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert months_after(date(2026, 12, 7), 1) == date(2027, 1, 7)
    assert months_after(date(2026, 11, 30), 14) == date(2028, 1, 30)
    assert months_after(date(2026, 3, 31), -1) == date(2026, 2, 28)


# ---------------------------------------------------------------- periods counted from an event (a notice)

def test_one_month_after_the_31st_of_january_ends_on_the_last_day_of_february():
    assert period_end(date(2025, 1, 31), months=1) == date(2025, 2, 28)  # a Friday
    assert period_end(date(2028, 1, 31), months=1) == date(2028, 2, 29)  # a leap year; a Tuesday


def test_a_period_ending_on_a_weekend_ends_on_the_next_monday():
    assert period_end(date(2027, 1, 31), months=1) == date(2027, 3, 1)  # 28 February 2027 is a Sunday
    assert period_end(date(2026, 1, 30), months=1) == date(2026, 3, 2)  # 28 February 2026 is a Saturday
    assert period_end(date(2026, 12, 8), days=14) == date(2026, 12, 22)  # a Tuesday: stays


def test_a_period_ending_on_a_public_holiday_ends_on_the_next_working_day():
    # 25 December 2026 (a Friday), then Boxing Day and Sunday: Monday 28th.
    assert period_end(date(2026, 11, 25), months=1) == date(2026, 12, 28)
    assert period_end(date(2026, 12, 11), days=14) == date(2026, 12, 28)
    # Thursday 4 June 2026 is Fronleichnam in Bayern only.
    assert period_end(date(2026, 5, 4), months=1, state="09") == date(2026, 6, 5)
    assert period_end(date(2026, 5, 4), months=1, state="03") == date(2026, 6, 4)


def test_the_days_of_a_period_count_from_the_day_after_the_event():
    assert period_end(date(2026, 12, 8), days=1) == date(2026, 12, 9)
    assert period_end(date(2026, 12, 8), months=12) == date(2027, 12, 8)


@pytest.mark.parametrize(("days", "months"), [(0, 0), (14, 1), (-1, 0), (0, -1), (-3, 2)])
def test_a_period_is_days_or_months_from_one(days, months):
    with pytest.raises(ValueError, match="a period is days or months"):
        period_end(date(2026, 12, 8), days=days, months=months)


_STATES = st.sampled_from([None, *[f"{n:02d}" for n in range(1, 17)]])


@settings(max_examples=200, deadline=None)
@given(event=st.dates(date(2020, 1, 1), date(2035, 12, 31)), count=st.integers(1, 12), in_months=st.booleans(),
       state=_STATES)
def test_a_period_ends_on_the_first_working_day_from_its_calendar_end(event, count, in_months, state):
    end = months_after(event, count) if in_months else event + timedelta(days=count)
    last = period_end(event, **{"months" if in_months else "days": count}, state=state)
    assert last >= end > event
    assert is_working_day(last, state)
    # The first one: every day from the calendar end up to it is a weekend day or a holiday (at
    # most four in a row, as over Easter).
    assert (last - end).days <= 4
    assert not any(is_working_day(end + timedelta(days=n), state) for n in range((last - end).days))
