from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from swabline.audit.models import AuditEvent
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Declaration, Person, PersonMerge
from swabline.people.services import (
    MembersInvalid,
    PersonInput,
    merge_people,
    register_household,
    register_person,
)

pytestmark = pytest.mark.django_db


def member(world, **overrides):
    data = {
        "full_name": "nguyễn  thị   BÍCH ngọc ",
        "birth": "15/08/1961",
        "sex": Sex.FEMALE,
        "ward": world.ward_a,
        "phone": "0912 345 678",
        "national_id": "",
    }
    data.update(overrides)
    return PersonInput(**data)


def test_register_cleans_and_stores_nfc(world):
    reg = register_person(data=member(world), by=None, source=DeclarationSource.SELF)
    person = reg.person
    assert reg.created
    assert person.full_name == "Nguyễn Thị Bích Ngọc"
    assert person.name_folded == "nguyen thi bich ngoc"
    assert person.phone == "+84912345678"
    assert person.birth_date == dt.date(1961, 8, 15)
    assert person.province_code == world.province.province_code
    assert person.declarations.count() == 1


def test_declaring_again_returns_the_same_person_and_adds_a_declaration(world):
    first = register_person(data=member(world), by=None, source=DeclarationSource.SELF)
    nfd = "Nguye\u0302\u0303n Thi\u0323 Bi\u0301ch Ngo\u0323c"
    second = register_person(
        data=member(world, full_name=nfd, phone="+84912345678", symptoms=["cough"]),
        by=None,
        source=DeclarationSource.SELF,
    )
    assert not second.created
    assert second.person.pk == first.person.pk
    assert second.person.qr_token == first.person.qr_token
    assert list(Declaration.objects.order_by("id").values_list("symptoms", flat=True)) == [
        [],
        ["cough"],
    ]


def test_cccd_of_someone_else_is_kept_as_a_claim_and_reveals_nothing(world):
    owner = register_person(
        data=member(world, national_id="072161012345"), by=None, source=DeclarationSource.SELF
    ).person
    stranger = register_person(
        data=member(world, full_name="Lê Văn Tám", birth="1961", sex=Sex.MALE, phone="0987654321",
                    national_id="072161012345"),
        by=None,
        source=DeclarationSource.SELF,
    ).person  # fmt: skip
    assert stranger.pk != owner.pk
    assert stranger.national_id is None
    assert stranger.claimed_national_id == "072161012345"
    assert Person.objects.get(pk=owner.pk).national_id == "072161012345"


def test_household_registers_everyone_with_a_shared_phone_and_key(world):
    regs = register_household(
        members=[
            member(world),
            member(world, full_name="Trần Văn Hùng", birth="02/01/1958", sex=Sex.MALE),
            member(world, full_name="Trần Gia Bảo", birth="2016", sex=Sex.MALE),
        ],
        by=None,
        source=DeclarationSource.SELF,
    )
    people = [r.person for r in regs]
    assert [p.is_household_head for p in people] == [True, False, False]
    assert len({p.household_key for p in people}) == 1
    assert {p.phone for p in people} == {"+84912345678"}
    assert len({p.code for p in people}) == 3
    again = register_household(
        members=[
            member(world),
            member(world, full_name="Trần Gia Bảo", birth="2016", sex=Sex.MALE),
        ],
        by=None,
        source=DeclarationSource.SELF,
    )
    assert [r.created for r in again] == [False, False]
    assert Person.objects.count() == 3


def test_household_with_one_bad_member_registers_nobody(world):
    with pytest.raises(MembersInvalid) as caught:
        register_household(
            members=[
                member(world),
                member(world, full_name="Bé Na", birth="31/02/2019", national_id="12345"),
            ],
            by=None,
            source=DeclarationSource.SELF,
        )
    assert set(caught.value.by_member) == {1}
    assert set(caught.value.by_member[1]) == {"birth", "national_id"}
    assert Person.objects.count() == 0


def test_merge_keeps_history_moves_declarations_and_fills_gaps(world):
    a = register_person(data=member(world, phone=""), by=None, source=DeclarationSource.SELF).person
    b = register_person(
        data=member(world, national_id="001161012345"), by=None, source=DeclarationSource.STAFF
    ).person
    merge_people(survivor=a, duplicate=b, by=world.users["ward_a"], reason="same card")
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.merged_into_id == a.pk
    assert b.identity_key is None
    assert b.national_id is None
    assert a.national_id == "001161012345"
    assert a.phone == "+84912345678"
    assert a.declarations.count() == 2
    merge = PersonMerge.objects.get()
    assert merge.snapshot["national_id"] == "001161012345"
    assert merge.reason == "same card"
    assert (
        AuditEvent.objects.filter(action="person.merged", actor_id=world.users["ward_a"].pk).count()
        == 1
    )
    with pytest.raises(ValidationError):
        merge_people(survivor=a, duplicate=b, by=world.users["ward_a"])


def test_merge_is_refused_outside_the_users_place(world):
    a = register_person(data=member(world), by=None, source=DeclarationSource.SELF).person
    b = register_person(
        data=member(world, ward=world.ward_b, phone="0987000111"),
        by=None,
        source=DeclarationSource.SELF,
    ).person
    with pytest.raises(PermissionDenied):
        merge_people(survivor=a, duplicate=b, by=world.users["ward_a"])
    with pytest.raises(PermissionDenied):
        merge_people(survivor=a, duplicate=b, by=world.users["sampler_a"])


def test_registering_again_without_a_phone_in_the_same_household_finds_the_person(world):
    first = register_person(
        data=member(world, phone=""), by=None, source=DeclarationSource.STAFF, household_key="h-1"
    )
    again = register_person(
        data=member(world, phone=""), by=None, source=DeclarationSource.STAFF, household_key="h-1"
    )
    assert not again.created
    assert again.person.pk == first.person.pk


def test_a_colliding_code_is_drawn_again(world, monkeypatch):
    from swabline.people import services

    taken = register_person(data=member(world), by=None, source=DeclarationSource.SELF).person
    codes = iter([taken.code, "Y7K3XWQ4"])
    monkeypatch.setattr(Person._meta.get_field("code"), "default", lambda: next(codes))
    monkeypatch.setattr(services, "new_person_code", lambda: "Y7K3XWQ9")
    other = register_person(
        data=member(world, full_name="Lý Thị Mai", phone="0977000111"),
        by=None,
        source=DeclarationSource.SELF,
    ).person
    assert other.code != taken.code
