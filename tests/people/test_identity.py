from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given
from hypothesis import strategies as st

from swabline.people import identity
from swabline.people.codes import (
    CODE_ALPHABET,
    code_check_char,
    new_person_code,
    normalize_person_code,
)

VIETNAMESE_LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
)
names = st.lists(
    st.text(alphabet=VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper(), min_size=1, max_size=8),
    min_size=1,
    max_size=5,
).map(" ".join)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nguyễn  thị   BÍCH ngọc ", "Nguyễn Thị Bích Ngọc"),
        ("NGUYỄN VĂN A", "Nguyễn Văn A"),
        ("H'HEN NIÊ", "H'Hen Niê"),
        ("y-ngông niê kdăm", "Y-Ngông Niê Kdăm"),
        ("Nguye\u0302\u0303n Va\u0306n Đu\u031b\u0301c", "Nguyễn Văn Đức"),
    ],
)
def test_clean_name(raw, expected):
    assert identity.clean_name(raw) == expected


@pytest.mark.parametrize("bad", ["", "   ", "Nguyễn Văn 3", "A" * 101, "<script>", "Lê@Văn"])
def test_clean_name_refuses(bad):
    with pytest.raises(ValidationError):
        identity.clean_name(bad)


@given(names)
def test_clean_name_is_idempotent_and_form_blind(name):
    try:
        once = identity.clean_name(name)
    except ValidationError:
        assume(False)
    assert identity.clean_name(once) == once
    assert identity.clean_name(unicodedata.normalize("NFD", name)) == once
    assert unicodedata.is_normalized("NFC", once)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("0912 345 678", "+84912345678"),
        ("+84 912-345-678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("912345678", "+84912345678"),
        (912345678.0, "+84912345678"),
        ("912345678.0", "+84912345678"),
        (912345678, "+84912345678"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_phone(raw, expected):
    assert identity.clean_phone(raw) == expected


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("0212345678", "prefix"),
        ("12345", "length"),
        ("+1 415 555 0100", "foreign"),
        ("09123abc78", "invalid"),
    ],
)
def test_clean_phone_refuses(bad, code):
    with pytest.raises(ValidationError) as caught:
        identity.clean_phone(bad)
    assert caught.value.code == code


@given(st.sampled_from(sorted(identity.MOBILE_PREFIXES)), st.integers(0, 9_999_999))
def test_clean_phone_is_idempotent_across_spellings(prefix, rest):
    national = f"{prefix}{rest:07d}"
    e164 = identity.clean_phone("0" + national)
    assert e164 == "+84" + national
    assert identity.clean_phone(e164) == e164
    assert identity.clean_phone(float(national)) == e164
    assert identity.clean_phone(f"0{national[:3]} {national[3:6]} {national[6:]}") == e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("072161012345", "072161012345"), (72161012345, "072161012345"), ("72161012345.0", "072161012345"),
     (" 001 090 012345 ", "001090012345"), ("", None)],
)  # fmt: skip
def test_clean_cccd(raw, expected):
    assert identity.clean_cccd(raw) == expected


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("12345", "length"),
        ("999161012345", "province"),
        ("072961012345", "century"),
        ("07216101234x", "invalid"),
    ],
)
def test_clean_cccd_refuses(bad, code):
    with pytest.raises(ValidationError) as caught:
        identity.clean_cccd(bad)
    assert caught.value.code == code


@given(
    st.sampled_from(sorted(identity.CCCD_PROVINCES)),
    st.integers(0, 3),
    st.integers(0, 99),
    st.integers(0, 999_999),
)
def test_clean_cccd_is_idempotent_and_survives_excel(province, century, year, serial):
    cccd = f"{province}{century}{year:02d}{serial:06d}"
    assert identity.clean_cccd(cccd) == cccd
    assert identity.clean_cccd(float(int(cccd))) == cccd
    assert identity.clean_cccd(identity.clean_cccd(cccd)) == cccd


TODAY = dt.date(2026, 11, 29)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15/08/1961", (dt.date(1961, 8, 15), 1961)),
        ("1961-08-15", (dt.date(1961, 8, 15), 1961)),
        ("15-08-1961", (dt.date(1961, 8, 15), 1961)),
        ("1961", (None, 1961)),
        (1961, (None, 1961)),
        (22508, (dt.date(1961, 8, 15), 1961)),
        ("22508", (dt.date(1961, 8, 15), 1961)),
        (dt.datetime(1961, 8, 15, 0, 0), (dt.date(1961, 8, 15), 1961)),  # noqa: DTZ001
        ("15/08/61", (dt.date(1961, 8, 15), 1961)),
    ],
)
def test_clean_birth(raw, expected):
    assert identity.clean_birth(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("bad", "code"),
    [("31/02/1990", "format"), ("1850", "year"), ("01/01/2030", "future"), ("", "required")],
)
def test_clean_birth_refuses(bad, code):
    with pytest.raises(ValidationError) as caught:
        identity.clean_birth(bad, today=TODAY)
    assert caught.value.code == code


def test_person_codes_check_and_normalise():
    for _ in range(200):
        code = new_person_code()
        assert normalize_person_code(f" {code[:4].lower()}-{code[4:]} ") == code
        wrong = CODE_ALPHABET[(CODE_ALPHABET.index(code[0]) + 1) % len(CODE_ALPHABET)] + code[1:]
        assert normalize_person_code(wrong) is None
    assert code_check_char("AAAAAAA") in CODE_ALPHABET
    assert normalize_person_code("O0I1-L5S2") is None


def test_person_code_check_catches_every_substitution_and_swap():
    for _ in range(20):
        code = new_person_code()
        for i in range(len(code)):
            for ch in CODE_ALPHABET:
                if ch != code[i]:
                    assert normalize_person_code(code[:i] + ch + code[i + 1 :]) is None
            if i + 1 < len(code) and code[i] != code[i + 1]:
                assert (
                    normalize_person_code(code[:i] + code[i + 1] + code[i] + code[i + 2 :]) is None
                )
