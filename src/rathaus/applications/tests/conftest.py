import pytest


@pytest.fixture
def dog_data():
    """A complete, valid dog registration."""
    return {
        "owner": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1980-01-31",
                  "address": {"street": "Hauptstraße", "house_number": "12a", "postal_code": "99999", "city": "Musterstadt"},
                  "email": "erika@example.org"},
        "dog": {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": 0},
        "reduction": {"exemption": "keine"},
        "declaration": {"truthful": True, "privacy": True},
    }
