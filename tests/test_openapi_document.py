"""The committed OpenAPI document (docs/openapi.json) is the one the code publishes.

Clients generate code from the committed file and reviewers see API changes in its diff, so a
change to the API must come with the regenerated document: `make openapi` writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.test import Client

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def published() -> dict:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_committed_openapi_document_matches_the_code():
    current = published()
    if os.environ.get("RATHAUS_UPDATE_OPENAPI") == "1":
        DOCUMENT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    changed = sorted(set(current["paths"]) ^ set(committed["paths"])) or sorted(
        p for p in current["paths"] if current["paths"][p] != committed["paths"].get(p))
    assert current == committed, (
        f"docs/openapi.json differs from the API the code publishes (first differing paths: {changed[:5]}); "
        "run `make openapi` and commit the result")
