"""The CCCD chip-card QR parser: real-shaped samples, broken ones, and properties.

CCCD digits 4-6 are the century-and-sex digit (0 man / 1 woman born 19xx, 2 / 3 born
20xx) and the last two digits of the birth year, so every accepted sample here is
consistent; the DOB check refuses the ones that are not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swabline.people import qr
from swabline.people.cccd import CccdCard, CccdError, format_cccd, looks_like_cccd, parse_cccd
from swabline.people.enums import Sex

TODAY = dt.date(2025, 11, 1)
HCM = "12 Lê Lợi, Phường Bến Nghé, Quận 1, TP.HCM"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def mojibake(text: str) -> str:
    """What a reader that decodes UTF-8 as Windows-1252 types (undefined bytes as C1)."""
    return "".join(
        chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
        for b in text.encode()
    )


def card(
    national_id: str,
    name: str,
    born: tuple[int, int, int],
    sex: Sex,
    address: str = "",
    issued: tuple[int, int, int] | None = (20, 4, 2021),
    old_id: str = "",
) -> CccdCard:
    return CccdCard(
        national_id=national_id,
        old_id=old_id,
        full_name=name,
        birth_date=dt.date(born[2], born[1], born[0]),
        sex=sex,
        address=address,
        issued_on=dt.date(issued[2], issued[1], issued[0]) if issued else None,
    )


VALID = [
    pytest.param(
        f"079061012345|123456789|Nguyễn Văn A|15081961|Nam|{HCM}|20042021",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM, old_id="123456789"),
        id="full-with-old-id",
    ),
    pytest.param(
        f"079061012345||Nguyễn Văn A|15081961|Nam|{HCM}|20042021",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="old-id-empty",
    ),
    pytest.param(
        nfd(f"079061012345||Nguyễn Văn A|15081961|Nam|{HCM}|20042021"),
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="nfd",
    ),
    pytest.param(
        f"079061012345||Nguyễn Văn A|15081961|Nam|{HCM}|20042021\r\n",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="trailing-crlf",
    ),
    pytest.param(
        f"  \ufeff079061012345||Nguyễn Văn A|15081961|Nam|{HCM}|20042021 \n\n",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="bom-and-spaces",
    ),
    pytest.param(
        f"079061012345|Nguyễn Văn A|15081961|Nam|{HCM}|20042021",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="six-fields",
    ),
    pytest.param(
        f"079061012345||Nguyễn Văn A|15081961|Nam|{HCM}|20042021|",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE, HCM),
        id="trailing-pipe",
    ),
    pytest.param(
        "001189004321||Trần Thị Hồng Nhung|02111989|Nữ|Số 5 ngõ 12 Phố Huế, Phường Hai Bà Trưng, Hà Nội|10072021",
        card(
            "001189004321",
            "Trần Thị Hồng Nhung",
            (2, 11, 1989),
            Sex.FEMALE,
            "Số 5 ngõ 12 Phố Huế, Phường Hai Bà Trưng, Hà Nội",
            (10, 7, 2021),
        ),
        id="hanoi-woman",
    ),
    pytest.param(
        nfd("001189004321||Trần Thị Hồng Nhung|02111989|Nữ||10072021"),
        card("001189004321", "Trần Thị Hồng Nhung", (2, 11, 1989), Sex.FEMALE, "", (10, 7, 2021)),
        id="nfd-nu",
    ),
    pytest.param(
        "001189004321||TRẦN THỊ HỒNG NHUNG|02111989|NỮ||10072021",
        card("001189004321", "Trần Thị Hồng Nhung", (2, 11, 1989), Sex.FEMALE, "", (10, 7, 2021)),
        id="upper-case",
    ),
    pytest.param(
        "001189004321||Tran Thi Hong Nhung|02111989|Nu||10072021",
        card("001189004321", "Tran Thi Hong Nhung", (2, 11, 1989), Sex.FEMALE, "", (10, 7, 2021)),
        id="unaccented",
    ),
    pytest.param(
        "072205000077||Lê Minh Khang|01012005|Nam|Ấp 3, Xã Tân Bình, Tây Ninh|",
        card(
            "072205000077",
            "Lê Minh Khang",
            (1, 1, 2005),
            Sex.MALE,
            "Ấp 3, Xã Tân Bình, Tây Ninh",
            None,
        ),
        id="born-2005-no-issue-date",
    ),
    pytest.param(
        "048308000123||Phan Thị Thu Hà|29022008|nữ||15032022",
        card("048308000123", "Phan Thị Thu Hà", (29, 2, 2008), Sex.FEMALE, "", (15, 3, 2022)),
        id="leap-day-2008-woman",
    ),
    pytest.param(
        "092045111222|361234567|Huỳnh   Văn   Bé|05051945|nam|Khóm 2, Phường 7, Cần Thơ|01022022",
        card(
            "092045111222",
            "Huỳnh Văn Bé",
            (5, 5, 1945),
            Sex.MALE,
            "Khóm 2, Phường 7, Cần Thơ",
            (1, 2, 2022),
            "361234567",
        ),
        id="extra-spaces",
    ),
    pytest.param(
        "038175009876|038175009876|Lò Thị Ơn|30121975|Nữ|Bản Nà Sang, Xã Mường Lay, Điện Biên|30062021",
        card(
            "038175009876",
            "Lò Thị Ơn",
            (30, 12, 1975),
            Sex.FEMALE,
            "Bản Nà Sang, Xã Mường Lay, Điện Biên",
            (30, 6, 2021),
            "038175009876",
        ),
        id="old-id-12-digits",
    ),
    pytest.param(
        mojibake("038175009876||Đỗ Thị Ưng|30121975|Nữ|Thôn Đông|30062021"),
        card("038175009876", "Đỗ Thị Ưng", (30, 12, 1975), Sex.FEMALE, "Thôn Đông", (30, 6, 2021)),
        id="mojibake-repaired",
    ),
    pytest.param(
        "79061012345||Nguyễn Văn A|15081961|Nam||20042021",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE),
        id="leading-zero-lost",
    ),
    pytest.param(
        "079061012345||Nguyễn Văn A|15/08/1961|Nam||20/04/2021",
        card("079061012345", "Nguyễn Văn A", (15, 8, 1961), Sex.MALE),
        id="dates-with-slashes",
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_accepts(text: str, expected: CccdCard) -> None:
    assert parse_cccd(text, today=TODAY) == expected
    assert looks_like_cccd(text) or text.startswith("79061012345|")  # 11 digits: not routed


INVALID = [
    pytest.param("", "empty", id="empty"),
    pytest.param(" \r\n", "empty", id="blank"),
    pytest.param("079061012345|Nguyễn Văn A|15081961", "fields", id="three-fields"),
    pytest.param("079061012345", "fields", id="id-alone"),
    pytest.param(
        "079061012345||Nguyễn Văn A|15081961|Nam|HCM|20042021|extra", "fields", id="eight-fields"
    ),
    pytest.param("hello|world", "fields", id="not-a-card"),
    pytest.param(
        "07906101234X||Nguyễn Văn A|15081961|Nam||20042021", "national_id", id="id-letter"
    ),
    pytest.param(
        "999061012345||Nguyễn Văn A|15081961|Nam||20042021", "national_id", id="id-province"
    ),
    pytest.param(
        "079561012345||Nguyễn Văn A|15081961|Nam||20042021", "national_id", id="id-century"
    ),
    pytest.param("0790610123||Nguyễn Văn A|15081961|Nam||20042021", "national_id", id="id-short"),
    pytest.param("||Nguyễn Văn A|15081961|Nam||20042021", "national_id", id="id-empty"),
    pytest.param("079061012345|||15081961|Nam||20042021", "name", id="name-empty"),
    pytest.param("079061012345||Nguyễn Văn A1|15081961|Nam||20042021", "name", id="name-digit"),
    pytest.param("079061012345||Nguyễn Văn A|1581961|Nam||20042021", "birth_date", id="dob-7"),
    pytest.param("079061012345||Nguyễn Văn A|31021961|Nam||20042021", "birth_date", id="dob-31feb"),
    pytest.param("079061012345||Nguyễn Văn A||Nam||20042021", "birth_date", id="dob-empty"),
    pytest.param("079261012345||Nguyễn Văn A|15082061|Nam||", "birth_date", id="dob-future"),
    # The example in the brief: digits 4-6 "190" mean a woman born in 1990, not 1961.
    pytest.param(
        f"079190012345|123456789|Nguyễn Văn A|15081961|Nam|{HCM}|20042021",
        "birth_year",
        id="dob-vs-id-brief-example",
    ),
    pytest.param(
        "079061012345||Nguyễn Văn A|15081962|Nam||20042021", "birth_year", id="dob-vs-id-year"
    ),
    pytest.param(
        "079261012345||Nguyễn Văn A|15081961|Nam||20042021", "birth_year", id="dob-vs-id-century"
    ),
    pytest.param("079061012345||Nguyễn Văn A|15081961|Khác||20042021", "sex", id="sex-other"),
    pytest.param("079061012345||Nguyễn Văn A|15081961|||20042021", "sex", id="sex-empty"),
    pytest.param("079061012345||Nguyễn Văn A|15081961|M||20042021", "sex", id="sex-letter"),
    pytest.param(
        "079061012345||Nguyễn Văn A|15081961|Nam||14081961", "issued_on", id="issued-before-dob"
    ),
    pytest.param("079061012345||Nguyễn Văn A|15081961|Nam||32132021", "issued_on", id="issued-bad"),
    pytest.param(
        "079061012345||Nguyễn Văn A|15081961|Nam||01012030", "issued_on", id="issued-future"
    ),
]


@pytest.mark.parametrize(("text", "code"), INVALID)
def test_refuses_with_a_reason(text: str, code: str) -> None:
    with pytest.raises(CccdError) as caught:
        parse_cccd(text, today=TODAY)
    assert caught.value.code == code
    message = caught.value.messages[0]
    assert message and "%(" not in message  # parameters were filled in


def test_field_errors_keep_the_inner_reason() -> None:
    from django.utils import translation

    with translation.override("en"):
        with pytest.raises(CccdError) as caught:
            parse_cccd("999061012345||Nguyễn Văn A|15081961|Nam||", today=TODAY)
        assert "province" in caught.value.messages[0]
        with pytest.raises(CccdError) as caught:
            parse_cccd("079061012345|Nguyễn Văn A|15081961", today=TODAY)
        assert "3 fields" in caught.value.messages[0]
    with pytest.raises(CccdError) as caught:  # Vietnamese by default
        parse_cccd("079061012345|Nguyễn Văn A|15081961", today=TODAY)
    assert "có 3 trường" in caught.value.messages[0]


def test_error_is_a_validation_error_and_translated() -> None:
    from django.core.exceptions import ValidationError
    from django.utils.functional import Promise

    with pytest.raises(ValidationError) as caught:
        parse_cccd("hello|world")
    assert isinstance(caught.value.message, Promise)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("079061012345||Nguyễn Văn A|15081961|Nam||", True),
        ("  079061012345|broken", True),  # routed to the parser, which explains
        ("\ufeff079061012345|", True),
        ("079061012345", False),
        ("79061012345|x", False),
        ("K7M2-P9QX", False),
        ("SW1:G4Q7ZK2M5XWUAJ3C6NVPEYRHLA:NTBN1961:T", False),
        ("", False),
    ],
)
def test_looks_like_cccd(text: str, expected: bool) -> None:
    assert looks_like_cccd(text) is expected


# --- Properties -----------------------------------------------------------------------

SYLLABLES = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ",
    "Ngô", "Dương", "Lý", "Thị", "Văn", "Đức", "Ngọc", "Bích", "Thùy", "Ánh", "Tuyết",
    "Hữu", "Quốc", "Khánh", "Ưng", "Ơn", "Ấn", "Yến", "Quỳnh", "Thảo", "Nguyên",
]  # fmt: skip
PROVINCES = ["001", "079", "072", "048", "092", "038", "096"]

cards = st.builds(
    lambda province, born, sex, serial, words, old, address, issue_gap: CccdCard(
        national_id=f"{province}{(born.year // 100 - 19) * 2 + (sex == Sex.FEMALE)}"
        f"{born.year % 100:02d}{serial:06d}",
        old_id=old,
        full_name=" ".join(words),
        birth_date=born,
        sex=sex,
        address=address,
        issued_on=born + dt.timedelta(days=issue_gap) if issue_gap is not None else None,
    ),
    province=st.sampled_from(PROVINCES),
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    sex=st.sampled_from([Sex.MALE, Sex.FEMALE]),
    serial=st.integers(min_value=0, max_value=999_999),
    words=st.lists(st.sampled_from(SYLLABLES), min_size=2, max_size=5),
    old=st.sampled_from(["", "123456789", "025987654"]),
    address=st.sampled_from(["", HCM, "Ấp Bình Hòa, Xã Thạnh Đức, Tây Ninh", "Thôn 3"]),
    issue_gap=st.none() | st.integers(min_value=0, max_value=20 * 365),
).filter(lambda c: c.issued_on is None or c.issued_on <= TODAY)


@given(cards)
@settings(max_examples=200, deadline=None)
def test_round_trip_and_normal_forms(original: CccdCard) -> None:
    text = format_cccd(original)
    parsed = parse_cccd(text, today=TODAY)
    assert parsed == original
    assert parse_cccd(nfd(text), today=TODAY) == parsed
    assert parse_cccd(unicodedata.normalize("NFC", nfd(text)) + "\r\n", today=TODAY) == parsed
    assert looks_like_cccd(text) and looks_like_cccd(nfd(text))
    assert qr.decode_payload(text) is None  # never taken for our own QR


@given(cards)
@settings(max_examples=100, deadline=None)
def test_parse_is_stable(original: CccdCard) -> None:
    once = parse_cccd(nfd(format_cccd(original)).upper(), today=TODAY)
    assert parse_cccd(format_cccd(once), today=TODAY) == once


@given(st.text(alphabet=st.sampled_from("0179|Nnamữu ệ/\r\n\ufeffAÃ»"), max_size=60))
@settings(max_examples=300)
def test_arbitrary_text_is_refused_cleanly(text: str) -> None:
    with contextlib.suppress(CccdError):
        parse_cccd(text, today=TODAY)


@given(st.text(max_size=120))
@settings(max_examples=300)
def test_any_text_parses_or_raises_cccd_error(text: str) -> None:
    with contextlib.suppress(CccdError):
        parse_cccd("079061012345|" + text, today=TODAY)
