"""The demo services' processes (BPMN + DMN in this folder) and a helper to attach them."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
DEMO_PROCESSES = {
    "hund-anmelden": ("dog_registration.bpmn", "dog_tax.dmn"),
    "bewohnerparkausweis": ("parking_permit.bpmn", "parking_zone.dmn"),
    "halteverbot-umzug": ("street_space.bpmn", "street_fee.dmn"),
}


def demo_files(slug: str) -> list[tuple[str, bytes]]:
    return [(name, (DEMO_DIR / name).read_bytes()) for name in DEMO_PROCESSES[slug]]


def attach_demo_processes(municipality, services=None) -> list:
    """Publish the demo process of each demo service unless the same model is already published."""
    from rathaus.catalog.models import Service

    from ..models import DefinitionState, ProcessDefinition
    from ..services import process_definition_create

    created = []
    for slug in DEMO_PROCESSES:
        service = (services or {}).get(slug) or Service.objects.filter(municipality=municipality, slug=slug).first()
        if service is None:
            continue
        files = demo_files(slug)
        current = ProcessDefinition.objects.filter(service=service, state=DefinitionState.PUBLISHED).first()
        if current is not None and [f["content"] for f in current.files] == [c.decode() for _, c in files]:
            continue
        created.append(process_definition_create(municipality=municipality, service=service, files=files, publish=True))
    return created
