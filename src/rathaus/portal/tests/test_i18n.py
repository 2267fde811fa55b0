"""English translation: pages switch language, and the catalogue is complete and compiled."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

LC_MESSAGES = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "django.po"
MO_FILE = LC_MESSAGES / "django.mo"


def parse_po(path: Path) -> list[dict]:
    """A small .po reader (no extra dependency): entries with flags, msgid, msgid_plural and msgstr(s)."""
    entries: list[dict] = []
    entry: dict = {}
    key = None

    def finish():
        nonlocal entry, key
        if "msgid" in entry:
            entries.append(entry)
        entry, key = {}, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#~"):  # obsolete entries are not used
            continue
        elif line.startswith("#,"):
            if "msgid" in entry:
                finish()
            entry.setdefault("flags", set()).update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            if "msgid" in entry:
                finish()
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            if key == "msgid" and "msgid" in entry:
                finish()
                key = "msgid"
            entry[key] = ast.literal_eval(value)
    finish()
    return entries


def msgstrs(entry: dict) -> list[str]:
    return [value for key, value in entry.items() if key.startswith("msgstr")]


def get(client, url: str, language: str | None = None):
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_help_page_in_english_with_language_cookie(client):
    html = get(client, reverse("portal:help"), "en")
    assert '<html lang="en"' in html
    assert "How do I apply?" in html
    assert "I do not want to apply online" in html
    assert "Skip to main content" in html
    assert "Wie stelle ich einen Antrag?" not in html


@pytest.mark.django_db
def test_home_page_in_english_with_language_cookie(client, town):
    html = get(client, reverse("portal:home"), "en")
    assert "Digital town hall" in html
    assert "Choose your municipality" in html
    assert "Municipality key" in html
    assert "Digitales Rathaus" not in html


@pytest.mark.django_db
def test_login_page_in_english_with_language_cookie(client):
    html = get(client, reverse("accounts:login"), "en")
    assert "Sign in" in html
    assert "No account yet?" in html
    assert "Email address or username" in html
    assert "Noch kein Konto?" not in html


@pytest.mark.django_db
def test_pages_are_german_by_default(client, town):
    help_html = get(client, reverse("portal:help"))
    assert '<html lang="de"' in help_html
    assert "Wie stelle ich einen Antrag?" in help_html
    assert "How do I apply?" not in help_html
    home_html = get(client, reverse("portal:home"))
    assert "Digitales Rathaus" in home_html
    assert "Wählen Sie Ihre Gemeinde" in home_html
    login_html = get(client, reverse("accounts:login"))
    assert "Noch kein Konto?" in login_html
    assert "No account yet?" not in login_html


@pytest.mark.django_db
def test_language_switch_sets_the_cookie(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("portal:help")}, follow=True)
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "How do I apply?" in response.content.decode()


def test_po_file_has_no_untranslated_or_fuzzy_entries():
    assert PO_FILE.exists(), f"{PO_FILE} is missing – run makemessages -l en"
    entries = parse_po(PO_FILE)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert len(messages) > 100
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", set())]
    assert not fuzzy, f"fuzzy entries in {PO_FILE.name}: {fuzzy[:10]}"
    untranslated = [e["msgid"] for e in messages if not all(msgstrs(e))]
    assert not untranslated, f"untranslated entries in {PO_FILE.name}: {untranslated[:10]}"
    no_plural = [e["msgid"] for e in messages if "msgid_plural" in e and len(msgstrs(e)) != 2]
    assert not no_plural, f"plural entries need msgstr[0] and msgstr[1]: {no_plural[:10]}"


def test_mo_file_is_compiled_from_the_current_po_file():
    assert MO_FILE.exists(), f"{MO_FILE} is missing – run compilemessages"
    with MO_FILE.open("rb") as fp:
        catalog = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
    stale = []
    for e in parse_po(PO_FILE)[1:]:
        if "msgid_plural" in e:
            ok = all(catalog.get((e["msgid"], i)) == e[f"msgstr[{i}]"] for i in (0, 1))
        else:
            ok = catalog.get(e["msgid"]) == e["msgstr"]
        if not ok:
            stale.append(e["msgid"])
    assert not stale, f"{MO_FILE.name} is out of date – run compilemessages: {stale[:10]}"
