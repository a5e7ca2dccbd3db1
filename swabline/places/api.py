from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema

from swabline.places import queries
from swabline.places.enums import Level, System

router = Router(tags=["places"])


class PlaceOut(Schema):
    code: str
    name: str
    level: str
    province_code: str
    parent_name: str | None


class PlaceFilter(Schema):
    q: str = ""
    level: Level | None = Level.WARD
    province: str | None = None
    system: System = System.CURRENT
    limit: int = 20


@router.get("", response=list[PlaceOut], auth=None, summary="Search places by name")
def search_places(request: HttpRequest, filters: Query[PlaceFilter]) -> list[PlaceOut]:
    """Public: the ward picker of the registration form uses it. Diacritics optional."""
    found = queries.search(
        filters.q,
        level=filters.level,
        province_code=filters.province,
        system=filters.system,
        limit=max(1, min(filters.limit, 50)),
    )
    return [
        PlaceOut(
            code=p.code,
            name=p.name,
            level=p.level,
            province_code=p.province_code,
            parent_name=p.parent.name if p.parent else None,
        )
        for p in found
    ]
