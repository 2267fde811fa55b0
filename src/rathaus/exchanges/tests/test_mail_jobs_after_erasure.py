"""The exchanges' mail jobs skip families whose registrations were anonymised before the job ran."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from rathaus.exchanges import services
from rathaus.exchanges.models import AllocationRound, ChildRegistration
from rathaus.exchanges.tasks import send_place_offers

pytestmark = pytest.mark.django_db


def test_place_offer_mails_still_go_to_the_others_when_one_family_was_erased_before_the_job_ran(
        municipality, team_lead, citizen, other_citizen, register_child, daycare):
    anna = register_child(citizen, "Anna", ["sonne", "regen"], district=daycare["districts"]["north"])
    register_child(other_citizen, "Ben", ["sonne", "wald"], sibling_facility=daycare["facilities"]["sonne"])
    allocation_round = services.round_create(municipality=municipality, actor=team_lead, follow_up=False, seed=7,
                                             offer_deadline=timezone.localdate() + timedelta(days=14))
    # The round commits; its mail job (enqueued on commit) has not run yet.
    services.round_run(allocation_round=allocation_round, actor=team_lead)
    # Meanwhile Anna's family withdraws and its erasure request is granted.
    services.registration_withdraw(registration=ChildRegistration.objects.get(pk=anna.pk), actor=citizen)
    services.family_registrations_anonymise(municipality=municipality, parent=citizen, actor=team_lead,
                                            reason="erasure request")
    assert ChildRegistration.objects.get(pk=anna.pk).parent_id is None
    mail.outbox.clear()

    sent = send_place_offers.call(AllocationRound.objects.get(pk=allocation_round.pk).pk)

    # Ben still hears of his offer; nothing goes to an erased family.
    assert [m.to for m in mail.outbox] == [[other_citizen.email]]
    assert sent == 1
