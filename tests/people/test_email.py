"""The optional e-mail address: validated in the forms, kept on the person."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from swabline.people import identity
from swabline.people.enums import DeclarationSource
from swabline.people.forms import MemberForm
from swabline.people.services import PersonInput, register_person


def member(**extra: str) -> MemberForm:
    data = {"m-full_name": "Trần Thị Mai", "m-birth": "15/08/1961", "m-sex": "F"}
    data.update({f"m-{k}": v for k, v in extra.items()})
    return MemberForm(data, prefix="m")


def test_clean_email():
    assert identity.clean_email("") == ""
    assert identity.clean_email("  Mai.Tran@Example.VN ") == "Mai.Tran@example.vn"
    with pytest.raises(ValidationError):
        identity.clean_email("mai@")


def test_form_field_is_optional_and_validated():
    assert member().is_valid()
    form = member(email="not an address")
    with translation.override("en"):
        assert not form.is_valid()
        assert form.errors["email"] == ["Enter an e-mail address like name@example.com."]
    ok = member(email="mai@example.vn")
    assert ok.is_valid() and ok.cleaned_data["email"] == "mai@example.vn"


def test_registration_keeps_the_address_and_fills_only_an_empty_one(world):
    data = PersonInput(
        full_name="Trần Thị Mai", birth="1961", sex="F", ward=world.ward_a,
        phone="0912345678", email="mai@example.vn",
    )  # fmt: skip
    first = register_person(data=data, by=None, source=DeclarationSource.SELF)
    assert first.person.email == "mai@example.vn"
    data.email = "someone.else@example.vn"
    again = register_person(data=data, by=None, source=DeclarationSource.SELF)
    again.person.refresh_from_db()
    assert (again.created, again.person.email) == (False, "mai@example.vn")
