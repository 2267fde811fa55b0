"""The published form schemas mean the same to every validator: Python's `re` (ours) and
ECMA-262 (what JSON Schema names, and what other validators run) accept the same texts."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rathaus.catalog import demo_forms
from rathaus_domain.forms.fim import import_xdf
from rathaus_domain.forms.validation import check_form_schema, validate

FIM_DIR = Path(__file__).resolve().parents[1] / "demo_data"
FORMS = {
    "hund-anmelden": demo_forms.dog_registration(),
    "bewohnerparkausweis": demo_forms.parking_permit(),
    "halteverbot-umzug": demo_forms.street_space(),
    "waffenbesitzkarte": import_xdf((FIM_DIR / "S00000036_waffenbesitzkarte_xdf1.xml").read_bytes()).schema,
    "blaue-karte-eu": import_xdf((FIM_DIR / "S00000121_blaue_karte_eu_xdf2.xml").read_bytes()).schema,
}

# Texts each form field might get, right or wrong; every probe is also tried with the
# characters on which the two engines' `$`, `\s`, `\d` and `.` disagree added to it.
SAMPLES = [
    "", " ", "Erika", "Mustermann-Lüdenscheidt", "Zoë Ørsted 李", "😀", "12a", "12-14b", "99999", "276098106123456",
    "erika@example.org", "+49 (0)30/123-45", "MU-AB 123", "07:00", "2026-02-28", "nachweis.pdf", "..", "a/b",
    "JVBERi0xLjcK", "iVBORw0KGgoAAAANSUhEUg==", "/9j/4A==", "<script>alert(1)</script>", "١٢٣٤٥",
]
EDGES = ["\n", "\r", "\r\n", "\x00", "\t", "\x0b", "\x1c", "\x7f", "\x85", "\xa0", "\u2028", "\ufeff", "٣"]

NODE_SCRIPT = """
const {patterns, texts} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = patterns.map((p) => {
  const withU = new RegExp(p, "u"), withoutU = new RegExp(p);
  return texts.map((t) => [withU.test(t), withoutU.test(t)]);
});
process.stdout.write(JSON.stringify(out));
"""


def _patterns(node):
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def _probes():
    texts = []
    for sample in SAMPLES:
        texts.append(sample)
        for edge in EDGES:
            texts.extend([sample + edge, edge + sample, sample[:1] + edge + sample[1:]])
    return list(dict.fromkeys(texts))


@pytest.mark.parametrize("slug", sorted(FORMS))
def test_the_form_passes_the_lint(slug):
    assert check_form_schema(FORMS[slug]) == []


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for an ECMA-262 regex engine")
def test_every_published_pattern_accepts_the_same_texts_in_python_and_ecma_262():
    patterns = sorted({p for schema in FORMS.values() for p in _patterns(schema)})
    texts = _probes()
    node = subprocess.run([shutil.which("node"), "-e", NODE_SCRIPT], input=json.dumps({"patterns": patterns, "texts": texts}),
                          capture_output=True, text=True, check=True, timeout=60)
    disagreements = []
    for pattern, results in zip(patterns, json.loads(node.stdout), strict=True):
        for text, (with_u, without_u) in zip(texts, results, strict=True):
            python = re.search(pattern, text) is not None
            if not python == with_u == without_u:
                disagreements.append((pattern, text, python, with_u, without_u))
    assert len(patterns) >= 15
    assert disagreements == []


@pytest.mark.parametrize(("path", "value"), [
    (("owner", "given_name"), "Erika\n"),
    (("owner", "address", "house_number"), "12a\n"),
    (("owner", "address", "street"), "Haupt\x00straße"),
    (("owner", "email"), "erika@example.org\n"),
    (("owner", "email"), "erika\u00a0mustermann@example.org"),
    (("owner", "birth_date"), "1980-01-31\n"),
])
def test_the_dog_form_refuses_a_final_line_break_and_control_characters(path, value):
    schema = FORMS["hund-anmelden"]
    data = {"owner": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1980-01-31",
                      "address": {"street": "Hauptstraße", "house_number": "12a", "postal_code": "99999", "city": "Musterstadt"},
                      "email": "erika@example.org"}}
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    assert "/" + "/".join(path) in [e.pointer for e in validate(schema, data)]
