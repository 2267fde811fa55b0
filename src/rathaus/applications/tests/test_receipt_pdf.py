import io

import pytest
from pypdf import PdfReader

from rathaus.applications.pdf import receipt_pdf
from rathaus.applications.services import application_submit

pytestmark = pytest.mark.django_db


def test_receipt_lists_the_submitted_data_in_any_script_and_stays_identical(town, demo_services, dog_data):
    dog_data["owner"]["family_name"] = "Łukasiewicz-Öztürk"
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    first, second = receipt_pdf(application), receipt_pdf(application)
    assert len(first) == len(second)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(second)).pages)
    assert application.reference in text
    assert "Łukasiewicz-Öztürk" in text
    assert "Labrador Retriever" in text
