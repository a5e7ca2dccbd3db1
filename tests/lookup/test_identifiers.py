"""What the citizen types: identifiers in any usual form, dates of birth."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from swabline.lookup.identifiers import Birth, Identifier, parse_birth, parse_identifier
from swabline.people.codes import code_check_char

BODY = "K7M3P9Q"
CODE = BODY + code_check_char(BODY)


@pytest.mark.parametrize(
    "typed",
    [
        CODE,
        CODE.lower(),
        f"{CODE[:4]}-{CODE[4:]}",
        f" {CODE[:4]} {CODE[4:]} ",
        f"{CODE[:4]}.{CODE[4:].lower()}",
    ],
)
def test_code_with_or_without_separators_any_case(typed):
    assert parse_identifier(typed) == Identifier("code", CODE)


def test_code_with_a_wrong_character_is_a_form_error():
    wrong = CODE[:-1] + ("X" if CODE[-1] != "X" else "Y")
    with pytest.raises(ValidationError) as exc:
        parse_identifier(wrong)
    assert exc.value.code == "code"


@pytest.mark.parametrize("typed", ["079 090 012 345", "079090012345", "079.090.012.345"])
def test_cccd(typed):
    assert parse_identifier(typed) == Identifier("cccd", "079090012345")


@pytest.mark.parametrize(
    "typed",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "+84912345678",
        "84912345678",
        "+84 91 234 5678",
        "(091) 234-5678",
        "912345678",
    ],
)
def test_phone_in_any_vietnamese_form(typed):
    assert parse_identifier(typed) == Identifier("phone", "+84912345678")


@pytest.mark.parametrize("typed", ["", "   ", "hello world", "+1 202 555 0100", "0123"])
def test_other_input_is_a_form_error(typed):
    with pytest.raises(ValidationError):
        parse_identifier(typed)


def test_keys_are_hmacs_not_identifiers():
    key = Identifier("phone", "+84912345678").key("i")
    assert key.startswith("i:") and "912345678" not in key and len(key) == 42
    assert key == Identifier("phone", "+84912345678").key("i")
    assert key != Identifier("phone", "+84912345678").key("d")


def test_birth_full_date_or_year_alone():
    assert parse_birth(15, 8, 1961) == Birth(1961, dt.date(1961, 8, 15))
    assert parse_birth(None, None, 1961) == Birth(1961, None)


@pytest.mark.parametrize(
    ("day", "month", "year", "code"),
    [(31, 2, 1961, "date"), (15, None, 1961, "partial"), (15, 8, None, "year_required"),
     (15, 8, 1850, "year"), (1, 1, 2999, "year")],
)  # fmt: skip
def test_birth_errors(day, month, year, code):
    with pytest.raises(ValidationError) as exc:
        parse_birth(day, month, year)
    assert exc.value.code == code
