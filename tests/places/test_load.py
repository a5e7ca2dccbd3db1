"""The places loader against the real vietnamadminunits data.

Loading takes seconds, so the module loads once inside a transaction that is rolled
back at the end; each test runs in a savepoint inside it, so what a test changes is
undone before the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from swabline.places import queries
from swabline.places.enums import Level, System
from swabline.places.models import DataSource, Place, PlaceSuccession
from swabline.places.services import LoadReport, dataset_path, load_places


@pytest.fixture(scope="module")
def loaded(django_db_setup: None, django_db_blocker: Any) -> Iterator[LoadReport]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield load_places()
        transaction.set_rollback(True)


def source_count(sql: str) -> int:
    con = sqlite3.connect(f"{dataset_path().as_uri()}?mode=ro", uri=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def place(system: str, level: str, name: str, parent: str) -> Place:
    return Place.objects.get(system=system, level=level, name=name, parent__name=parent)


def counts() -> dict[str, int]:
    return {
        "places": Place.objects.count(),
        "successions": PlaceSuccession.objects.count(),
        "defaults": PlaceSuccession.objects.filter(is_default=True).count(),
    }


@pytest.mark.django_db
def test_counts_match_the_dataset(loaded: LoadReport) -> None:
    expected = {
        (System.CURRENT, Level.PROVINCE): "SELECT COUNT(DISTINCT provinceCode) FROM admin_units",
        (System.CURRENT, Level.WARD): "SELECT COUNT(DISTINCT wardCode) FROM admin_units",
        (System.LEGACY, Level.PROVINCE): (
            "SELECT COUNT(DISTINCT provinceCode) FROM admin_units_legacy"
        ),
        (System.LEGACY, Level.DISTRICT): (
            "SELECT COUNT(DISTINCT districtCode) FROM admin_units_legacy"
        ),
        # Five island districts have a row with no ward; COUNT skips their NULL.
        (System.LEGACY, Level.WARD): "SELECT COUNT(DISTINCT wardCode) FROM admin_units_legacy",
    }
    for (system, level), sql in expected.items():
        assert Place.objects.filter(system=system, level=level).count() == source_count(sql)

    assert (
        loaded.provinces_current,
        loaded.wards_current,
        loaded.provinces_legacy,
        loaded.districts_legacy,
        loaded.wards_legacy,
    ) == (34, 3321, 63, 696, 10035)
    assert loaded.created == 34 + 3321 + 63 + 696 + 10035 + loaded.successions
    assert loaded.successions == PlaceSuccession.objects.count() == 10602
    assert (loaded.unmatched, loaded.unresolved, loaded.stale) == (0, 0, 0)
    # Every legacy ward has exactly one default successor.
    legacy_wards = Place.objects.filter(system=System.LEGACY, level=Level.WARD)
    defaults = PlaceSuccession.objects.filter(legacy__in=legacy_wards, is_default=True)
    assert defaults.count() == defaults.values("legacy").distinct().count() == 10035

    source = DataSource.objects.get(name="vietnamadminunits")
    assert (source.version, source.licence) == ("1.0.4", "MIT")
    assert (source.current_units, source.legacy_units) == (34 + 3321, 63 + 696 + 10035)
    assert source.successions == 10602


@pytest.mark.django_db
def test_loading_again_changes_nothing(loaded: LoadReport) -> None:
    before = counts()
    loaded_at = DataSource.objects.get().loaded_at
    out = StringIO()

    call_command("load_places", stdout=out)

    assert out.getvalue() == (
        "Places: 34 provinces, 3321 wards (current); 63 provinces, 696 districts, "
        "10035 wards (legacy); 10602 successions — created 0, updated 0.\n"
    )
    assert counts() == before
    assert DataSource.objects.get().loaded_at == loaded_at


@pytest.mark.django_db
def test_reload_rewrites_only_what_changed(loaded: LoadReport) -> None:
    ward = place(System.CURRENT, Level.WARD, "Phường Ba Đình", "Thành phố Hà Nội")
    Place.objects.filter(pk=ward.pk).update(name="Phường Ba Dinh", name_folded="x")
    succession = PlaceSuccession.objects.filter(is_default=True).first()
    assert succession is not None
    PlaceSuccession.objects.filter(pk=succession.pk).update(is_default=False)
    PlaceSuccession.objects.filter(legacy__name="Phường Phúc Xá").delete()

    report = load_places()

    assert (report.created, report.updated, report.deleted) == (1, 2, 0)
    ward.refresh_from_db()
    assert (ward.name, ward.name_folded) == ("Phường Ba Đình", "phuong ba dinh")
    assert PlaceSuccession.objects.get(pk=succession.pk).is_default


@pytest.mark.django_db
def test_truc_bach_became_ba_dinh(loaded: LoadReport) -> None:
    truc_bach = place(System.LEGACY, Level.WARD, "Phường Trúc Bạch", "Quận Ba Đình")

    successors = truc_bach.successions.values_list("current__name", "is_default")

    assert list(successors) == [("Phường Ba Đình", True)]


@pytest.mark.django_db
def test_a_split_ward_has_one_default_successor(loaded: LoadReport) -> None:
    tay_dang = place(System.LEGACY, Level.WARD, "Thị trấn Tây Đằng", "Huyện Ba Vì")

    successors = tay_dang.successions.order_by("current__name")

    assert list(successors.values_list("current__name", "is_default")) == [
        ("Xã Minh Châu", True),
        ("Xã Quảng Oai", False),
    ]


@pytest.mark.django_db
def test_island_districts_without_wards_map_to_special_zones(loaded: LoadReport) -> None:
    con_dao = place(System.LEGACY, Level.DISTRICT, "Huyện Côn Đảo", "Tỉnh Bà Rịa - Vũng Tàu")

    succession = con_dao.successions.select_related("current__parent").get()

    assert con_dao.children.count() == 0
    assert succession.current.name == "Đặc khu Côn Đảo"
    assert succession.current.parent is not None
    assert succession.current.parent.name == "Thành phố Hồ Chí Minh"


@pytest.mark.django_db
def test_paths_and_province_codes(loaded: LoadReport) -> None:
    hanoi = Place.objects.get(system=System.CURRENT, level=Level.PROVINCE, code="01")
    ward = place(System.CURRENT, Level.WARD, "Phường Ba Đình", "Thành phố Hà Nội")
    old_hanoi = Place.objects.get(system=System.LEGACY, level=Level.PROVINCE, code="01")
    district = place(System.LEGACY, Level.DISTRICT, "Quận Ba Đình", "Thành phố Hà Nội")
    truc_bach = place(System.LEGACY, Level.WARD, "Phường Trúc Bạch", "Quận Ba Đình")

    assert hanoi.path == f"/{hanoi.pk}/"
    assert ward.path == f"/{hanoi.pk}/{ward.pk}/"
    assert truc_bach.path == f"/{old_hanoi.pk}/{district.pk}/{truc_bach.pk}/"
    assert {ward.province_code, truc_bach.province_code, district.province_code} == {"01"}
    in_hanoi = Place.objects.filter(path__startswith=hanoi.path, level=Level.WARD)
    expected = source_count("SELECT COUNT(*) FROM admin_units WHERE provinceCode = '01'")
    assert in_hanoi.count() == expected == 126
    assert set(in_hanoi.values_list("system", "province_code").distinct()) == {
        (System.CURRENT, "01")
    }
    for p in Place.objects.select_related("parent").iterator(chunk_size=2000):
        assert p.path == f"{p.parent.path if p.parent else '/'}{p.pk}/"
        assert p.province_code == (p.parent.province_code if p.parent else p.code)


@pytest.mark.django_db
def test_names_kinds_and_search(loaded: LoadReport) -> None:
    found = list(queries.search("ba dinh").values_list("name", "parent__name"))
    # The source's wardType says "Xã"; the official name says "Phường".
    viet_hoa = Place.objects.get(system=System.CURRENT, level=Level.WARD, code="10543")
    bac_kan = Place.objects.get(system=System.LEGACY, level=Level.DISTRICT, code="058")
    yen_vien = place(System.LEGACY, Level.WARD, "Thị trấn Yên Viên", "Huyện Gia Lâm")

    assert ("Phường Ba Đình", "Thành phố Hà Nội") in found
    assert (viet_hoa.name, viet_hoa.kind, viet_hoa.short_name) == (
        "Phường Việt Hòa",
        "Phường",
        "Việt Hòa",
    )
    assert (bac_kan.name, bac_kan.kind) == ("Thành phố Bắc Kạn", "Thành phố")
    assert (yen_vien.kind, yen_vien.short_name) == ("Thị trấn", "Yên Viên")
    provinces = Place.objects.filter(system=System.CURRENT, level=Level.PROVINCE)
    assert dict(provinces.filter(code__in=["01", "04"]).values_list("code", "kind")) == {
        "01": "Thành phố",
        "04": "Tỉnh",
    }
    assert provinces.get(code="01").short_name == "Hà Nội"
    assert Place.objects.get(system=System.LEGACY, level=Level.WARD, code="27046").name == (
        "Phường 5"
    )


@pytest.mark.django_db
def test_hamlets_survive_a_reload_and_follow_a_moved_ward(loaded: LoadReport) -> None:
    ward = place(System.CURRENT, Level.WARD, "Phường Ba Đình", "Thành phố Hà Nội")
    hamlet = Place.objects.create(
        system=System.CURRENT,
        level=Level.HAMLET,
        code="00004-TDP1",
        name="Tổ dân phố 1",
        short_name="Tổ dân phố 1",
        kind="Tổ dân phố",
        name_folded="to dan pho 1",
        parent=ward,
        province_code="01",
        path="",
    )
    Place.objects.filter(pk=hamlet.pk).update(path=f"{ward.path}{hamlet.pk}/")

    first = load_places()
    hamlet.refresh_from_db()
    assert (first.created, first.updated, first.stale) == (0, 0, 0)
    assert hamlet.path == f"{ward.path}{hamlet.pk}/"

    # As if an earlier load had put the ward (and so its hamlet) in another province.
    elsewhere = Place.objects.get(system=System.CURRENT, level=Level.PROVINCE, code="04")
    Place.objects.filter(pk=ward.pk).update(parent=elsewhere, path=f"/{elsewhere.pk}/{ward.pk}/")
    Place.objects.filter(pk=hamlet.pk).update(
        path=f"/{elsewhere.pk}/{ward.pk}/{hamlet.pk}/", province_code="04"
    )

    second = load_places()

    hamlet.refresh_from_db()
    assert (second.created, second.updated) == (0, 2)  # the ward, and its hamlet's path
    assert (hamlet.path, hamlet.province_code) == (f"{ward.path}{hamlet.pk}/", "01")
    assert (hamlet.name, hamlet.parent_id) == ("Tổ dân phố 1", ward.pk)
