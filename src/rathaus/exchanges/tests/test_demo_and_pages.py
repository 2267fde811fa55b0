"""The demo data is idempotent and every page renders with it."""

import pytest
from django.urls import reverse

from rathaus.exchanges.demo import seed_demo_exchanges
from rathaus.exchanges.models import (
    ChildRegistration,
    Directory,
    Facility,
    HolidayActivity,
    HolidayProgramme,
    HolidayRegistration,
    Offer,
    Provider,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(municipality):
    return seed_demo_exchanges(municipality)


def test_demo_is_idempotent(municipality, demo):
    counts = (Offer.objects.count(), Facility.objects.count(), ChildRegistration.objects.count(),
              HolidayActivity.objects.count(), HolidayRegistration.objects.count(), Provider.objects.count())
    assert seed_demo_exchanges(municipality) == demo
    assert counts == (Offer.objects.count(), Facility.objects.count(), ChildRegistration.objects.count(),
                      HolidayActivity.objects.count(), HolidayRegistration.objects.count(), Provider.objects.count())
    assert demo["facilities"] == 3
    assert demo["holiday_activities"] == 8
    assert demo["daycare_registrations"] == 30
    assert demo["holiday_registrations"] == 40


def test_demo_rounds_and_draws_run(municipality, demo, team_lead):
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.exchanges import services

    done = services.round_run(allocation_round=services.round_create(
        municipality=municipality, actor=team_lead, follow_up=False,
        offer_deadline=timezone.localdate() + timedelta(days=14)), actor=team_lead)
    assert done.stats["assigned"] > 10
    from rathaus.exchanges.tests.conftest import close_registration

    programme = HolidayProgramme.objects.get(municipality=municipality, name__startswith="Ferienprogramm Sommer")
    close_registration(programme)
    services.holiday_draw_prepare(programme=programme, actor=team_lead)
    drawn = services.holiday_programme_allocate(programme=programme, actor=team_lead)
    assert any(drawn.result["waiting_lists"].values())


def test_the_demo_has_a_closed_programme_staff_can_draw(team_lead, municipality, demo):
    from rathaus.exchanges import services

    autumn = HolidayProgramme.objects.get(municipality=municipality, name__startswith="Ferienprogramm Herbst")
    services.holiday_draw_prepare(programme=autumn, actor=team_lead)
    drawn = services.holiday_programme_allocate(programme=autumn, actor=team_lead)
    assert drawn.result["assignments"]


def test_public_and_staff_pages_render_with_demo_data(client, staff_login, team_lead, municipality, demo):
    slug = municipality.slug
    programme = HolidayProgramme.objects.get(municipality=municipality, name__startswith="Ferienprogramm Sommer")
    offer = Offer.objects.filter(status="published").first()
    public = [reverse("exchanges:index", kwargs={"municipality": slug}),
              reverse("exchanges:directory", kwargs={"municipality": slug, "directory": Directory.FAMILY}),
              reverse("exchanges:offer_detail", kwargs={"municipality": slug, "directory": offer.directory, "pk": offer.pk}),
              reverse("exchanges:daycare_index", kwargs={"municipality": slug}),
              reverse("exchanges:holiday_index", kwargs={"municipality": slug}),
              reverse("exchanges:holiday_programme", kwargs={"municipality": slug, "pk": programme.pk})]
    for url in public:
        assert client.get(url).status_code == 200, url
    staff_login(client, team_lead)
    provider = Provider.objects.filter(municipality=municipality).first()
    submitted = Offer.objects.get(status="submitted")
    facility = Facility.objects.filter(municipality=municipality).first()
    activity = HolidayActivity.objects.filter(programme=programme).first()
    staff = [reverse("exchanges:staff_provider", kwargs={"municipality": slug, "pk": provider.pk}),
             reverse("exchanges:staff_offer", kwargs={"municipality": slug, "pk": submitted.pk}),
             reverse("exchanges:staff_facility", kwargs={"municipality": slug, "pk": facility.pk}),
             reverse("exchanges:staff_programme", kwargs={"municipality": slug, "pk": programme.pk}),
             reverse("exchanges:staff_activity", kwargs={"municipality": slug, "pk": activity.pk}),
             reverse("exchanges:staff_activity_create", kwargs={"municipality": slug, "programme": programme.pk}),
             reverse("exchanges:staff_registrations", kwargs={"municipality": slug})]
    for url in staff:
        assert client.get(url).status_code == 200, url


def test_provider_and_family_pages_render_with_demo_data(client, municipality, demo):
    slug = municipality.slug
    provider = Provider.objects.get(municipality=municipality, name__startswith="TSV")
    member = provider.members.first()
    client.force_login(member)
    programme = HolidayProgramme.objects.get(municipality=municipality, name__startswith="Ferienprogramm Sommer")
    activity = provider.holiday_activities.first()
    offer = provider.offers.first()
    for url in [reverse("exchanges:provider_home", kwargs={"municipality": slug}),
                reverse("exchanges:provider_edit", kwargs={"municipality": slug, "provider": provider.pk}),
                reverse("exchanges:provider_offer_edit", kwargs={"municipality": slug, "provider": provider.pk, "pk": offer.pk}),
                reverse("exchanges:provider_activity_edit", kwargs={"municipality": slug, "provider": provider.pk, "pk": activity.pk}),
                reverse("exchanges:provider_activity_create", kwargs={"municipality": slug, "provider": provider.pk}) + f"?programm={programme.pk}",
                reverse("exchanges:holiday_register", kwargs={"municipality": slug, "pk": programme.pk})]:
        assert client.get(url).status_code == 200, url
    registration = ChildRegistration.objects.filter(municipality=municipality).first()
    client.force_login(registration.parent)
    for url in [reverse("exchanges:daycare_registration", kwargs={"municipality": slug, "pk": registration.pk}),
                reverse("exchanges:daycare_registration_edit", kwargs={"municipality": slug, "pk": registration.pk}),
                reverse("exchanges:daycare_register", kwargs={"municipality": slug})]:
        assert client.get(url).status_code == 200, url


def test_operator_admin_lists_exchange_rows(client, staff_login, django_user_model, demo):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "a-long-password-123")
    staff_login(client, admin)
    for model in ("provider", "offer", "facility", "childregistration", "holidayactivity", "placeoffer"):
        assert client.get(f"/verwaltung/exchanges/{model}/").status_code == 200, model
