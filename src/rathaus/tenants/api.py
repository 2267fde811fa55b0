from ninja import Router, Schema

from .selectors import municipality_list

router = Router(tags=["Kommunen"])


class MunicipalityOut(Schema):
    slug: str
    name: str
    ags: str


@router.get("/municipalities", response=list[MunicipalityOut], summary="Alle Kommunen dieser Instanz")
def list_municipalities(request):
    return list(municipality_list())
