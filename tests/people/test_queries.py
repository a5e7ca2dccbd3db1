"""Staff person search: scope, ranking and the work each search costs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from swabline.people import queries
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.services import PersonInput, register_person

pytestmark = pytest.mark.django_db


def _person(ward, full_name, birth="01/02/1970", phone="", **kw):
    data = PersonInput(
        full_name=full_name, birth=birth, sex=Sex.FEMALE, ward=ward, phone=phone, **kw
    )
    return register_person(data=data, by=None, source=DeclarationSource.STAFF).person


def names(people):
    return [p.full_name for p in people]


def test_names_that_start_with_the_text_come_first_then_those_that_contain_it(world):
    for name in ["Đỗ Trần Thị Hoa", "Trần Thị Hoa", "Trần Thị Hoài", "Lê Thị Hoa", "Trần Văn Hòa"]:
        _person(world.ward_a, name)
    found = queries.find_people(world.users["ward_a"], "tran thi hoa")
    assert names(found) == ["Trần Thị Hoa", "Trần Thị Hoài", "Đỗ Trần Thị Hoa"]
    assert names(queries.find_people(world.users["ward_a"], "tran thi hoa", limit=2)) == [
        "Trần Thị Hoa",
        "Trần Thị Hoài",
    ]
    assert names(queries.find_people(world.users["ward_a"], "thi hoa")) == [
        "Đỗ Trần Thị Hoa",
        "Lê Thị Hoa",
        "Trần Thị Hoa",
        "Trần Thị Hoài",
    ]
    # The same people as the unranked search.
    assert set(queries.find_people(world.users["ward_a"], "hoa", limit=100)) == set(
        queries.search_people(world.users["ward_a"], "hoa")
    )


def test_a_year_narrows_both_groups(world):
    _person(world.ward_a, "Trần Thị Hoa", birth="1961")
    _person(world.ward_a, "Trần Thị Hoa", birth="1962", phone="0912000111")
    _person(world.ward_a, "Đỗ Trần Thị Hoa", birth="1961")
    found = queries.find_people(world.users["ward_a"], "tran thi hoa 1961")
    assert [(p.full_name, p.birth_year) for p in found] == [
        ("Trần Thị Hoa", 1961),
        ("Đỗ Trần Thị Hoa", 1961),
    ]


def test_a_ward_user_never_finds_people_of_another_ward(world):
    mine = _person(world.ward_a, "Trần Thị Hoa", phone="0912000111")
    other = _person(world.ward_b, "Trần Thị Hoa", phone="0912000222")
    far = _person(world.ward_c, "Trần Thị Hoa", phone="0912000333")
    for query in ["tran thi hoa", "thi hoa", "", "0912000222", other.display_code]:
        assert other not in queries.find_people(world.users["ward_a"], query), query
    assert queries.find_people(world.users["ward_a"], "tran") == [mine]
    assert set(queries.find_people(world.users["province"], "tran")) == {mine, other}
    assert set(queries.find_people(world.users["admin"], "tran")) == {mine, other, far}
    assert queries.find_people(world.users["labtech_a"], "tran") == []
    assert queries.find_people(world.users["province"], far.display_code) == []


def test_codes_phones_and_cccds_find_one_person(world):
    person = _person(world.ward_a, "Trần Thị Hoa", phone="0912000111", national_id="072170012345")
    _person(world.ward_a, "Trần Thị Hoa", birth="1980", phone="0912000222")
    user = world.users["ward_a"]
    for query in [person.display_code, "0912 000 111", "+84912000111", "072170012345"]:
        assert queries.find_people(user, query) == [person], query


def test_a_search_costs_at_most_three_queries(world):
    _person(world.ward_a, "Trần Thị Hoa")
    user = world.users["ward_a"]
    queries.find_people(user, "")  # loads the user's grants
    with CaptureQueriesContext(connection) as prefix_only:
        assert len(queries.find_people(user, "tran", limit=1)) == 1
    with CaptureQueriesContext(connection) as with_fallback:
        queries.find_people(user, "thi hoa")
    with CaptureQueriesContext(connection) as by_phone:
        queries.find_people(user, "0912000999")
    assert (len(prefix_only), len(with_fallback), len(by_phone)) == (2, 3, 2)
