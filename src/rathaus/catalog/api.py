from decimal import Decimal
from typing import Any

from ninja import Router, Schema

from rathaus.tenants.selectors import municipality_get

from . import selectors

router = Router(tags=["Leistungen"])


class ServiceOut(Schema):
    id: int
    slug: str
    leika_key: str
    name: str
    summary: str
    fee: Decimal
    processing_days: int
    office: str


class ServiceDetailOut(ServiceOut):
    description: str
    legal_basis: str
    fee_note: str
    required_documents: list[str]
    life_situations: list[str]
    form_version: int
    form_schema: dict[str, Any]

    @staticmethod
    def resolve_required_documents(obj) -> list[str]:
        return obj.required_document_texts

    @staticmethod
    def resolve_life_situations(obj) -> list[str]:
        return [s.key for s in obj.life_situations.all()]

    @staticmethod
    def resolve_form_version(obj) -> int:
        return obj.form.version

    @staticmethod
    def resolve_form_schema(obj) -> dict[str, Any]:
        return obj.form.schema


@router.get("/m/{slug}/services", response=list[ServiceOut], summary="Leistungskatalog einer Kommune")
def list_services(request, slug: str, q: str = ""):
    return list(selectors.service_list(municipality=municipality_get(slug=slug), query=q[:200]))


@router.get("/m/{slug}/services/{service_id}", response=ServiceDetailOut,
            summary="Eine Leistung mit dem JSON Schema ihres Formulars")
def get_service(request, slug: str, service_id: int):
    return selectors.service_get(municipality=municipality_get(slug=slug), pk=service_id)
