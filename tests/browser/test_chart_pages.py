"""axe-core finds nothing on the holiday programme's fill-rate charts, which exist only after the draw.

The site-wide walk (test_axe_every_page.py) sees the seeded programme while registration is still
open, so its staff page and the provider page have no chart there; this test draws it first.
"""

from __future__ import annotations

import pytest
from conftest import fill_login
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser



@pytest.fixture
def drawn(world, town):
    """The town's seeded holiday programme after its draw; the town's citizen is a member of its first provider."""
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.exchanges import services
    from rathaus.exchanges.models import HolidayProgramme, ProviderMember

    admin = world["ours_user"]
    programme = HolidayProgramme.objects.filter(municipality=town).order_by("pk").first()
    HolidayProgramme.objects.filter(pk=programme.pk).update(registration_until=timezone.localdate() - timedelta(days=1))
    programme.refresh_from_db()
    admin.is_verified = lambda: True  # what OTPMiddleware sets after the second factor
    services.holiday_draw_prepare(programme=programme, actor=admin)
    services.holiday_programme_allocate(programme=programme, actor=admin)
    del admin.is_verified
    provider = programme.activities.order_by("pk").first().provider
    citizen = world["citizens"][town.slug]
    ProviderMember.objects.create(municipality=town, provider=provider, user=citizen)
    return programme, citizen, admin


def _check_chart(page: Page, axe, label: str) -> None:
    expect(page.get_by_role("img", name="Belegte Plätze je Aktivität").first).to_be_visible()
    axe(page, label)


def test_holiday_fill_rate_charts_have_no_axe_violations(page: Page, axe, drawn, town, otp_code, screenshot):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    programme, citizen, admin = drawn
    page.goto(f"/konto/anmelden/?next=/m/{town.slug}/boersen/anbieter/")
    fill_login(page, citizen.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Anbieterbereich")
    _check_chart(page, axe, "provider page after the draw")
    screenshot(page, "chart-provider-home")

    page.context.clear_cookies()
    page.goto(f"/konto/anmelden/?next=/m/{town.slug}/boersen/verwaltung/ferien/{programme.pk}/")
    fill_login(page, admin.email)
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(TOTPDevice.objects.get(user=admin)))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(programme.name)
    _check_chart(page, axe, "staff programme page after the draw")
    screenshot(page, "chart-staff-programme")
