from datetime import date

import pytest

from rathaus_domain.shared.workdays import add_working_days, easter_sunday, public_holidays


@pytest.mark.parametrize(("year", "easter"), [(2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)),
                                              (2026, date(2026, 4, 5)), (2027, date(2027, 3, 28))])
def test_easter_sunday_is_computed(year, easter):
    assert easter_sunday(year) == easter


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
