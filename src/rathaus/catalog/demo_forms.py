"""The demo municipality's hand-written forms (docs/forms.md), built with small helpers."""

from __future__ import annotations

from typing import Any

from rathaus_domain.forms.validation import (
    DATE_PATTERN,
    EMAIL_PATTERN,
    END_OF_TEXT,
    HOUSE_NUMBER_PATTERN,
    MULTI_LINE_TEXT_PATTERN,
    NAME_PATTERN,
    PHONE_PATTERN,
    POSTCODE_PATTERN,
    file_field_schema,
)

# Every pattern ends with END_OF_TEXT, not `$`: Python's re (the server's validator) lets `$`
# match before a final line break, ECMA-262 (other validators) does not, and the published
# schema must mean the same to both. Character classes list control characters as \u escapes
# and avoid \s, \d and `.`, which the two engines define differently.
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]" + END_OF_TEXT
PLATE_PATTERN = r"^[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} ?[0-9]{1,4}[EH]?" + END_OF_TEXT
SIMPLE_HOUSE_NUMBER_PATTERN = r"^[0-9]{1,4}[a-zA-Z]?" + END_OF_TEXT
CHIP_NUMBER_PATTERN = r"^[0-9]{15}" + END_OF_TEXT
MB = 1024 * 1024


def text(title: str, *, max_length: int = 100, pattern: str = "", description: str = "",
         autocomplete: str = "", prefill: str = "", widget: str = "", min_length: int = 1) -> dict[str, Any]:
    # Without a pattern of its own a line holds a name or address part; a textarea any text.
    pattern = pattern or (MULTI_LINE_TEXT_PATTERN if widget == "textarea" else NAME_PATTERN)
    node: dict[str, Any] = {"type": "string", "title": title, "minLength": min_length, "maxLength": max_length,
                            "pattern": pattern}
    if description:
        node["description"] = description
    if autocomplete:
        node["x-autocomplete"] = autocomplete
    if prefill:
        node["x-prefill"] = prefill
    if widget:
        node["x-widget"] = widget
    return node


def date(title: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10, "title": title,
            **({"description": description} if description else {}), **extra}


def email(title: str = "E-Mail-Adresse", description: str = "") -> dict[str, Any]:
    return {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254, "title": title,
            "x-autocomplete": "email", "x-prefill": "email",
            "description": description or "An diese Adresse schicken wir die Eingangsbestätigung."}


def choice(title: str, options: list[tuple[str, str]], description: str = "", widget: str = "") -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string", "title": title, "enum": [v for v, _ in options],
                            "x-enum-labels": [label for _, label in options]}
    if description:
        node["description"] = description
    if widget:
        node["x-widget"] = widget
    return node


def confirm(title: str, description: str = "") -> dict[str, Any]:
    return {"type": "boolean", "const": True, "title": title, **({"description": description} if description else {})}


def obj(title: str, properties: dict[str, Any], required: list[str], description: str = "", **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "title": title, "properties": properties, "required": required,
                            "additionalProperties": False}
    if description:
        node["description"] = description
    node.update(extra)
    return node


def form(title: str, description: str, steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": title,
            "description": description, "properties": steps, "required": list(steps), "additionalProperties": False}


def person_step(title: str = "Antragstellerin oder Antragsteller", *, birth_date: bool = False, phone: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {
        "given_name": text("Vorname", autocomplete="given-name", prefill="given_name"),
        "family_name": text("Nachname", autocomplete="family-name", prefill="family_name"),
    }
    required = ["given_name", "family_name"]
    if birth_date:
        props["birth_date"] = date("Geburtsdatum", "Zum Beispiel 31.01.1980", **{"x-autocomplete": "bday", "x-prefill": "birth_date"})
        required.append("birth_date")
    props["address"] = obj("Anschrift", {
        "street": text("Straße", autocomplete="address-line1", prefill="street"),
        "house_number": text("Hausnummer", max_length=10, pattern=HOUSE_NUMBER_PATTERN,
                             description="Zum Beispiel 12 oder 12a", prefill="house_number"),
        "postal_code": text("Postleitzahl", max_length=5, pattern=POSTCODE_PATTERN, description="5 Ziffern",
                            autocomplete="postal-code", prefill="postal_code"),
        "city": text("Ort", autocomplete="address-level2", prefill="city"),
    }, ["street", "house_number", "postal_code", "city"])
    required.append("address")
    props["email"] = email()
    required.append("email")
    if phone:
        props["phone"] = text("Telefon (freiwillig)", max_length=30, pattern=PHONE_PATTERN,
                              description="Für Rückfragen; nur Ziffern, Leerzeichen, +, /, - und Klammern.",
                              autocomplete="tel", prefill="phone", min_length=6)
    return obj(title, props, required, description="Wir brauchen Ihre Anschrift für den Bescheid.")


def declaration_step() -> dict[str, Any]:
    return obj("Erklärung", {
        "truthful": confirm("Ich versichere, dass meine Angaben richtig und vollständig sind."),
        "privacy": confirm("Ich habe die Datenschutzhinweise gelesen.",
                           "Ihre Daten werden nur für diesen Antrag verwendet und nach Ablauf der Aufbewahrungsfrist gelöscht."),
    }, ["truthful", "privacy"])


DOG_BREEDS = [
    ("mischling", "Mischling"), ("labrador", "Labrador Retriever"), ("schaeferhund", "Deutscher Schäferhund"),
    ("dackel", "Dackel"), ("golden_retriever", "Golden Retriever"), ("terrier", "Terrier (nicht gelistet)"),
    ("am_staff", "American Staffordshire Terrier (gelistet)"), ("pitbull", "Pitbull-Terrier (gelistet)"),
    ("staff_bull", "Staffordshire Bullterrier (gelistet)"), ("bullterrier", "Bullterrier (gelistet)"),
    ("andere", "Andere Rasse"),
]

EXEMPTIONS = [
    ("keine", "Keine Ermäßigung"), ("blindenfuehrhund", "Blindenführhund"), ("assistenzhund", "Assistenzhund"),
    ("rettungshund", "Geprüfter Rettungshund"), ("herdenschutz", "Herdenschutzhund"),
]


def dog_registration() -> dict[str, Any]:
    proof = file_field_schema(["application/pdf", "image/png", "image/jpeg"], 5 * MB, "Nachweis für die Ermäßigung",
                              "Zum Beispiel Ausweis mit Merkzeichen „Bl“ oder Prüfungszeugnis. PDF, PNG oder JPEG, höchstens 5 MB.")
    proof["x-required-when"] = "nur bei Ermäßigung oder Befreiung nötig"
    return form("Hund anmelden (Hundesteuer)", "Melden Sie Ihren Hund zur Hundesteuer an.", {
        "owner": person_step("Halterin oder Halter", birth_date=True),
        "dog": obj("Ihr Hund", {
            "name": text("Name des Hundes", max_length=60),
            "breed": choice("Rasse", DOG_BREEDS, "Bei Mischlingen die Rasse, der der Hund am meisten ähnelt, oder „Mischling“."),
            "birth_date": date("Geburtsdatum des Hundes", "Wenn Sie es nicht genau wissen: ungefähres Datum."),
            "sex": choice("Geschlecht", [("maennlich", "Rüde"), ("weiblich", "Hündin")]),
            "chip_number": text("Chipnummer", max_length=15, pattern=CHIP_NUMBER_PATTERN,
                                description="15 Ziffern, steht im Heimtierausweis.", min_length=15),
            "kept_since": date("Gehalten seit", "Die Steuer ist ab dem Ersten des folgenden Monats zu zahlen, im ersten Jahr anteilig."),
            "other_dogs": {"type": "integer", "minimum": 0, "maximum": 20, "title": "Wie viele andere Hunde halten Sie bereits in Musterstadt?",
                           "description": "Für den zweiten und jeden weiteren Hund gilt ein höherer Steuersatz."},
        }, ["name", "breed", "birth_date", "sex", "chip_number", "kept_since", "other_dogs"]),
        "reduction": obj("Steuerermäßigung", {
            "exemption": choice("Beantragen Sie eine Ermäßigung oder Befreiung?", EXEMPTIONS, widget="radio"),
            "proof": proof,
        }, ["exemption"], description="Für bestimmte Hunde gibt es eine Befreiung von der Hundesteuer.",
            **{"if": {"properties": {"exemption": {"not": {"const": "keine"}}}, "required": ["exemption"]},
               "then": {"required": ["proof"]}}),
        "declaration": declaration_step(),
    })


def parking_permit() -> dict[str, Any]:
    registration = file_field_schema(["application/pdf", "image/png", "image/jpeg"], 5 * MB,
                                     "Zulassungsbescheinigung Teil I (Fahrzeugschein)", "Foto oder Scan, PDF, PNG oder JPEG, höchstens 5 MB.")
    consent = file_field_schema(["application/pdf", "image/png", "image/jpeg"], 5 * MB,
                                "Nutzungsnachweis", "Bestätigung des Arbeitgebers, Leasingvertrag oder Überlassungserklärung.")
    consent["x-required-when"] = "nur nötig, wenn das Fahrzeug nicht auf Sie zugelassen ist"
    return form("Bewohnerparkausweis beantragen", "Mit dem Ausweis parken Sie in Ihrer Bewohnerparkzone.", {
        "applicant": person_step(),
        "vehicle": obj("Fahrzeug", {
            "plate": text("Kennzeichen", max_length=12, pattern=PLATE_PATTERN, description="Zum Beispiel MU-AB 123"),
            "holder": choice("Auf wen ist das Fahrzeug zugelassen?", [
                ("self", "Auf mich"), ("employer", "Firmenwagen"), ("leasing", "Leasing"), ("other", "Auf eine andere Person")],
                widget="radio"),
            "registration": registration,
            "usage_proof": consent,
        }, ["plate", "holder", "registration"],
            **{"if": {"properties": {"holder": {"not": {"const": "self"}}}, "required": ["holder"]},
               "then": {"required": ["usage_proof"]}}),
        "zone": obj("Parkzone", {
            "zone": choice("Bewohnerparkzone", [("A", "Zone A – Altstadt"), ("B", "Zone B – Bahnhofsviertel"),
                                                ("C", "Zone C – Schlossberg")], "Die Zone richtet sich nach Ihrer Wohnanschrift."),
            "start": date("Gültig ab"),
        }, ["zone", "start"]),
        "declaration": declaration_step(),
    })


def street_space() -> dict[str, Any]:
    vehicle = obj("Fahrzeug", {
        "kind": choice("Art", [("van", "Umzugswagen bis 7,5 t"), ("truck", "Lkw über 7,5 t"), ("container", "Container")]),
        "plate": text("Kennzeichen (falls bekannt)", max_length=12, pattern=PLATE_PATTERN),
    }, ["kind"])
    return form("Halteverbot für einen Umzug", "Sperren Sie Parkplätze für Ihren Umzugswagen (Sondernutzung des Straßenraums).", {
        "applicant": person_step(),
        "place": obj("Ort und Zeit", {
            "street": text("Straße"),
            "house_number": text("Hausnummer", max_length=10, pattern=SIMPLE_HOUSE_NUMBER_PATTERN),
            "length_m": {"type": "integer", "minimum": 5, "maximum": 50, "title": "Länge der Fläche in Metern",
                         "description": "Für einen Umzugswagen reichen meist 15 Meter."},
            "side": choice("Straßenseite", [("house", "Vor dem Haus"), ("opposite", "Gegenüber"), ("both", "Beide Seiten")], widget="radio"),
            # The signs must stand 72 hours ahead and the fee be paid first: the office needs the two weeks.
            "date": date("Datum des Umzugs", "Mindestens 14 Tage im Voraus beantragen.", **{"x-date-min-days-ahead": 14}),
            "from_time": text("Von (Uhrzeit)", max_length=5, pattern=TIME_PATTERN, description="Zum Beispiel 07:00", min_length=5),
            "to_time": text("Bis (Uhrzeit)", max_length=5, pattern=TIME_PATTERN, description="Zum Beispiel 18:00", min_length=5),
        }, ["street", "house_number", "length_m", "side", "date", "from_time", "to_time"]),
        "vehicles": obj("Fahrzeuge", {
            "items": {"type": "array", "title": "Fahrzeug", "items": vehicle, "minItems": 1, "maxItems": 5,
                      "description": "Geben Sie jedes Fahrzeug an, das in der Fläche stehen soll."},
        }, ["items"]),
        "declaration": declaration_step(),
    })
