from datetime import date

from rathaus_domain.shared.workdays import add_working_days, months_after, public_holidays


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
