"""The handful of real units the demo needs, without loading all 13,000 places."""

from __future__ import annotations

from swabline.core.text import fold
from swabline.demo.seed import PROVINCE_CODE, WARD_CODES
from swabline.places.enums import Level, System
from swabline.places.models import Place

WARD_NAMES = ["Phường Tân Ninh", "Phường Bình Minh", "Phường Ninh Thạnh", "Phường Long Hoa"]


def demo_places() -> None:
    province = Place.objects.create(
        system=System.CURRENT,
        level=Level.PROVINCE,
        code=PROVINCE_CODE,
        name="Tỉnh Tây Ninh",
        short_name="Tây Ninh",
        kind="Tỉnh",
        name_folded=fold("Tỉnh Tây Ninh"),
        path="",
        province_code=PROVINCE_CODE,
    )
    province.path = f"/{province.pk}/"
    province.save(update_fields=["path"])
    for code, name in zip(WARD_CODES, WARD_NAMES, strict=True):
        ward = Place.objects.create(
            system=System.CURRENT,
            level=Level.WARD,
            code=code,
            name=name,
            short_name=name.removeprefix("Phường "),
            kind="Phường",
            name_folded=fold(name),
            parent=province,
            path="",
            province_code=PROVINCE_CODE,
        )
        ward.path = f"{province.path}{ward.pk}/"
        ward.save(update_fields=["path"])
