"""Bulk import of people: messy spreadsheets, encodings, refusals, access, atomicity."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from swabline.audit.models import AuditEvent
from swabline.people import importing
from swabline.people.codes import normalize_person_code
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import ImportMode, ImportStatus, PeopleImport, Person
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

HEADER = [
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số điện thoại",
    "CCCD",
    "Địa chỉ",
    "Mã hộ",
    "Chủ hộ",
]
ROWS = [
    ["Nguyễn Văn An", "07/08/1961", "Nam", "0912345678", "079061012345", "12 Lê Lợi", "1", "x"],
    ["Trần Thị Bích", "15/08/1975", "Nữ", "0987654321", "", "12 Lê Lợi", "1", ""],
    ["Lê Văn Cường", "02/01/1990", "Nam", "0912000111", "", "3 Hùng Vương", "2", "x"],
]


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.PEOPLE_IMPORT_DIR = tmp_path / "imports"
    settings.TASK_RETRY_BASE_SECONDS = 0
    with translation.override("en"):
        yield settings.PEOPLE_IMPORT_DIR


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def csv_bytes(rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    if encoding == "cp1258":
        return encode_cp1258(text)
    return text.encode(encoding)


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def encode_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters (with circumflex, breve
    or horn) precomposed where the code page has them, tone marks as combining bytes."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        tones = [mark for mark in decomposed[1:] if mark in TONE_MARKS]
        others = "".join(mark for mark in decomposed[1:] if mark not in TONE_MARKS)
        out += unicodedata.normalize("NFC", decomposed[0] + others).encode("cp1258")
        out += "".join(tones).encode("cp1258")
    return bytes(out)


def xlsx_bytes(rows: Sequence[Sequence[object]], *, sheet_title: str = "Danh sách") -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(
    world,
    tmp_path,
    data: bytes,
    name: str = "list.csv",
    *,
    user="dataentry_a",
    place=None,
    mode=ImportMode.VALID_ROWS,
):
    return importing.create_import(
        by=world.users[user],
        place=place or world.ward_a,
        uploaded_file_or_path=write(tmp_path, name, data),
        filename=name,
        mode=mode,
    )


def run(imp: PeopleImport) -> PeopleImport:
    importing.validate_import(imp)
    return importing.commit_import(imp)


def errors_by_row(imp: PeopleImport) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for error in imp.errors:
        found.setdefault(error["row"], []).append((error["field"], error["code"]))
    return found


# --- The messy workbook -------------------------------------------------------------


def messy_workbook() -> bytes:
    """What volunteers really upload: a merged title above the header, blank rows, a
    row of column numbers, numbers where text belongs, Excel dates, NFD names,
    trailing spaces, duplicates and bad rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "DS"
    sheet["A1"] = "DANH SÁCH NGƯỜI DÂN PHƯỜNG TÂN NINH — ĐỢT 3"
    sheet.merge_cells("A1:J1")
    sheet.append([])  # row 2 blank
    sheet.append(
        [
            "STT",
            "Họ và tên ",
            "NGÀY SINH",
            "Giới tính",
            "SĐT",
            "Số CCCD",
            "Địa chỉ",
            "Mã hộ",
            "Chủ hộ",
            "Ghi chú",
        ]
    )  # row 3
    sheet.append(["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)", "(9)", "(10)"])  # row 4
    nfd = unicodedata.normalize("NFD", "Trần Thị Bích")
    rows = [
        [
            1,
            "nguyễn  văn an  ",
            22500,
            "Nam",
            912345678.0,
            79061012345.0,
            "12 Lê Lợi ",
            1.0,
            "x",
            "",
        ],  # 5
        [2, nfd, "15/08/1975", "Nữ", "0987654321", None, "12 Lê Lợi", 1, None, ""],  # 6
        [None] * 10,  # 7 blank
        [
            3,
            "Lê Văn Cường",
            dt.datetime(1990, 1, 2),  # noqa: DTZ001 (a naive Excel date)
            "nam",
            "+84 912 000 111",
            "",
            "3 Hùng Vương",
            2,
            "có",
            "",
        ],  # 8
        [
            4,
            "Nguyễn Văn An",
            dt.date(1961, 8, 7),
            "M",
            "0912345678",
            "",
            "12 Lê Lợi",
            1,
            "",
            "trùng",
        ],  # 9
        [5, "", "31/02/1990", "X", "12345", "12345", "", "", "", ""],  # 10
        [6, "Phạm Thị Dung", 1961, "F", "", "001161000123", "5 Trần Phú", 3, "x", ""],  # 11
        [7, "Phạm Văn Đông", 1961, "Nam", "", "001161000123", "5 Trần Phú", 3, "", ""],  # 12
        [8, "Hoàng Văn Em", 1980, "Nam", "", "079061012346", "", "", "", ""],  # 13
        [9, "Võ Thị Giang", "1985", "Nữ", 1.23e8, "7.91235E+11", "", "", "maybe", ""],  # 14
        [None, "   ", None, None, None, None, None, None, None, "chỉ ghi chú"],  # 15 blank
    ]
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_messy_workbook_gives_exact_errors_per_row_and_column(world, tmp_path):
    imp = upload(world, tmp_path, messy_workbook(), "Danh sach.xlsx")
    preview = importing.validate_import(imp)
    imp.refresh_from_db()

    assert imp.status == ImportStatus.VALIDATED
    assert imp.file_info["header_row"] == 3
    assert imp.file_info["sheet"] == "DS"
    assert imp.file_info["ignored_columns"] == ["STT", "Ghi chú"]
    assert errors_by_row(imp) == {
        9: [("full_name", "duplicate_in_file")],
        10: [
            ("full_name", "required"),
            ("birth", "format"),
            ("sex", "sex_invalid"),
            ("phone", "length"),
            ("national_id", "length"),
        ],
        12: [("national_id", "cccd_in_file")],
        13: [("national_id", "cccd_year")],
        14: [("phone", "prefix"), ("national_id", "cccd_scientific"), ("head", "head_invalid")],
    }
    assert (imp.rows_total, imp.rows_valid, imp.rows_invalid, imp.rows_duplicate_in_file) == (
        9,
        4,
        4,
        1,
    )
    assert preview.rows_valid == 4 and preview.can_commit
    columns = {(e["row"], e["field"]): e["column"] for e in imp.errors}
    assert columns[(10, "phone")] == "SĐT"  # the file's own header text
    assert columns[(12, "national_id")] == "Số CCCD"
    messages = {(e["row"], e["field"]): e["message"] for e in imp.errors}
    assert messages[(9, "full_name")] == "The same person as row 5: this row is skipped."
    assert messages[(12, "national_id")] == "Row 11 has the same CCCD for a different person."
    assert messages[(13, "national_id")] == "This CCCD does not match the year of birth."
    assert "format the column as Text" in messages[(14, "national_id")]
    assert imp.error_summary["by_column"]["SĐT"] == {"length": 1, "prefix": 1}
    assert Person.objects.count() == 0  # a dry run writes nothing

    importing.commit_import(imp)
    imp.refresh_from_db()
    assert (imp.status, imp.people_created, imp.people_matched) == (ImportStatus.DONE, 4, 0)
    people = {p.full_name: p for p in Person.objects.all()}
    assert sorted(people) == ["Lê Văn Cường", "Nguyễn Văn An", "Phạm Thị Dung", "Trần Thị Bích"]
    an = people["Nguyễn Văn An"]
    assert an.birth_date == dt.date(1961, 8, 7)  # Excel serial 22500
    assert an.phone == "+84912345678"  # 912345678.0, the leading zero lost
    assert an.national_id == "079061012345"  # 79061012345.0, the leading zero lost
    assert an.address == "12 Lê Lợi"
    assert an.household_key == f"{world.ward_a.code}:1"
    assert an.is_household_head
    bich = people["Trần Thị Bích"]
    assert bich.full_name == unicodedata.normalize("NFC", "Trần Thị Bích")
    assert bich.birth_date == dt.date(1975, 8, 15) and bich.sex == Sex.FEMALE
    assert bich.household_key == an.household_key and not bich.is_household_head
    cuong = people["Lê Văn Cường"]
    assert cuong.birth_date == dt.date(1990, 1, 2) and cuong.is_household_head
    dung = people["Phạm Thị Dung"]
    assert (dung.birth_date, dung.birth_year, dung.national_id) == (None, 1961, "001161000123")
    for person in people.values():
        assert person.source == DeclarationSource.IMPORT
        assert person.ward == world.ward_a
        assert person.province_code == world.ward_a.province_code
        assert person.name_folded == importing.fold(person.full_name)
        assert normalize_person_code(person.code) == person.code
        assert len(person.qr_token) == 26 and len(person.public_id) == 22
    event = AuditEvent.objects.get(action="people_import.committed")
    assert event.data["created"] == 4 and event.actor_label == "dataentry_a"


def test_failing_rows_report_keeps_original_cells_as_text(world, tmp_path):
    rows = [
        ["Tên danh sách"],
        HEADER,
        ROWS[0],
        ['=HYPERLINK("http://x")', "1/1/1990", "Nam", "0123", "", "", "", ""],
        ROWS[0],
    ]
    imp = upload(world, tmp_path, csv_bytes(rows))
    importing.validate_import(imp)
    report = openpyxl.load_workbook(io.BytesIO(importing.failing_rows_xlsx(imp)))
    sheet = report.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["Dòng", *HEADER, "Lỗi"]
    assert values[1][:5] == ["4", '=HYPERLINK("http://x")', "1/1/1990", "Nam", "0123"]
    assert sheet.cell(row=2, column=2).data_type == "s"  # text, not a live formula
    assert values[1][-1].startswith("Họ và tên: A name may contain only letters")
    assert "Số điện thoại: A mobile number has 10 digits" in values[1][-1]
    assert (
        values[2][0] == "5"
        and values[2][-1] == "Họ và tên: The same person as row 3: this row is skipped."
    )
    assert len(values) == 3


def test_template_has_vietnamese_headers_text_columns_and_skipped_examples(world, tmp_path):
    template = openpyxl.load_workbook(io.BytesIO(importing.template_xlsx()))
    assert template.sheetnames == ["Danh sách", "Hướng dẫn"]
    sheet = template["Danh sách"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["Họ và tên*", "Ngày sinh (dd/mm/yyyy) hoặc năm sinh*", "Giới tính*"]
    assert sheet["D2"].value == "0912345678" and sheet["D2"].number_format == "@"
    assert sheet["E500"].number_format == "@"  # CCCD cells stay text below the examples
    assert "Hướng dẫn" in template["Hướng dẫn"]["A1"].value

    sheet.append(["Đỗ Thị Hoa", "01/02/2003", "Nữ", "0911222333"])
    buffer = io.BytesIO()
    template.save(buffer)
    imp = upload(world, tmp_path, buffer.getvalue(), "mau.xlsx")
    preview = importing.validate_import(imp)
    assert (preview.rows_total, preview.rows_valid) == (1, 1)
    assert "The template's example rows were skipped." in preview.notes


# --- CSV encodings and delimiters ---------------------------------------------------

VIETNAMESE_ROWS = [
    [
        "Đặng Thị Hường",
        "01/02/1970",
        "Nữ",
        "0912111222",
        "",
        "Ấp Bình Đông, xã Phước Hậu",
        "7",
        "x",
    ],
    ["Nguyễn Ngọc Ẩn", "1950", "Nam", "0912111333", "", "Đường Trưng Nữ Vương", "7", ""],
]


@pytest.mark.parametrize(
    ("encoding", "label"),
    [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (BOM)"), ("cp1258", "Windows-1258")],
)
def test_csv_in_vietnamese_encodings(world, tmp_path, encoding, label):
    imp = upload(world, tmp_path, csv_bytes([HEADER, *VIETNAMESE_ROWS], encoding=encoding))
    run(imp)
    imp.refresh_from_db()
    assert imp.file_info["encoding"] == label
    assert imp.status == ImportStatus.DONE and imp.people_created == 2
    names = set(Person.objects.values_list("full_name", flat=True))
    assert names == {"Đặng Thị Hường", "Nguyễn Ngọc Ẩn"}
    assert Person.objects.get(full_name="Đặng Thị Hường").address == "Ấp Bình Đông, xã Phước Hậu"


def test_csv_in_windows_1252_is_told_apart_from_1258(world, tmp_path):
    header = [
        "Ho va ten",
        "Ngay sinh",
        "Gioi tinh",
        "So dien thoai",
        "CCCD",
        "Dia chi",
        "Ma ho",
        "Chu ho",
    ]
    rows = [
        header,
        ["Lê Hòa", "1961", "Nam", "0912111444", "", "Hòa Bình", "", ""],
        ["Võ Tài", "1970", "Nam", "0912111555", "", "", "", ""],
    ]
    data = csv_bytes(rows, encoding="cp1252", delimiter=";")
    assert data.decode("cp1258") != data.decode("cp1252")  # ò is a tone mark in 1258
    imp = upload(world, tmp_path, data)
    run(imp)
    imp.refresh_from_db()
    assert (imp.file_info["encoding"], imp.file_info["delimiter"]) == ("Windows-1252", ";")
    assert set(Person.objects.values_list("full_name", flat=True)) == {"Lê Hòa", "Võ Tài"}


def test_undecodable_csv_is_refused_clearly(world, tmp_path):
    data = csv_bytes([HEADER, ROWS[0]]) + b"\x81\x8d\x90\x9d\n"
    imp = upload(world, tmp_path, data)
    preview = importing.validate_import(imp)
    assert preview.status == ImportStatus.FAILED
    assert "CSV UTF-8" in preview.problem
    assert imp.__class__.objects.get(pk=imp.pk).error_summary["file"]["code"] == "encoding"


def test_letters_lost_by_a_non_unicode_save_are_explained(world, tmp_path):
    rows = [HEADER, ["Nguy?n Th? Lan", "1961", "Nữ", "", "", "", "", ""]]
    imp = upload(world, tmp_path, csv_bytes(rows))
    importing.validate_import(imp)
    imp.refresh_from_db()
    assert errors_by_row(imp) == {2: [("full_name", "lost_letters")]}


def test_english_and_unaccented_headers_and_a_separate_year_column(world, tmp_path):
    rows = [
        ["full name", "ngay sinh", "nam sinh", "GIOI TINH", "Phone number", "so cccd", "dia chi"],
        ["Bùi Văn Khoa", "", "1955", "male", "0912345000", "", ""],
        ["Bùi Thị Lan", "12/12/1960", "", "female", "0912345001", "", ""],
    ]
    imp = upload(world, tmp_path, csv_bytes(rows))
    run(imp)
    imp.refresh_from_db()
    assert imp.people_created == 2
    assert Person.objects.get(full_name="Bùi Văn Khoa").birth_year == 1955


# --- Refused files -------------------------------------------------------------------


def test_zip_bomb_is_refused_before_parsing(world, tmp_path):
    good = xlsx_bytes([HEADER, ROWS[0]])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/media/image1.png", b"\0" * (20 * 1024 * 1024))
    assert len(buffer.getvalue()) < 200_000
    imp = upload(world, tmp_path, buffer.getvalue(), "bomb.xlsx")
    preview = importing.validate_import(imp)
    assert preview.status == ImportStatus.FAILED
    assert imp.__class__.objects.get(pk=imp.pk).error_summary["file"]["code"] == "zip_bomb"


def test_expanded_size_limit(world, tmp_path, settings):
    settings.PEOPLE_IMPORT_MAX_UNCOMPRESSED_BYTES = 5_000
    imp = upload(world, tmp_path, xlsx_bytes([HEADER, ROWS[0]]), "a.xlsx")
    importing.validate_import(imp)
    imp.refresh_from_db()
    assert imp.error_summary["file"]["code"] == "zip_bomb"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
)


@pytest.mark.parametrize("big_part", [False, True])
def test_xml_entities_are_refused(world, tmp_path, monkeypatch, big_part):
    if big_part:
        monkeypatch.setattr(importing, "SMALL_XML_PART", 10)  # take the streaming scan
    good = xlsx_bytes([HEADER, ROWS[0]])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                data = BILLION_LAUGHS + body
            target.writestr(item, data)
    imp = upload(world, tmp_path, buffer.getvalue(), "lol.xlsx")
    importing.validate_import(imp)
    imp.refresh_from_db()
    assert imp.status == ImportStatus.FAILED
    assert imp.error_summary["file"]["code"] == "xml_entities"
    assert "entity" in imp.failure


def test_workbooks_too_big_to_read_whole_are_refused_with_advice(world, tmp_path, settings):
    settings.PEOPLE_IMPORT_MAX_XLSX_ROWS = 2
    imp = upload(world, tmp_path, xlsx_bytes([HEADER, *ROWS, *ROWS, *ROWS]), "big.xlsx")
    preview = importing.validate_import(imp)
    assert preview.status == ImportStatus.FAILED
    assert "at most 2 rows" in preview.problem and "CSV UTF-8" in preview.problem


def test_macros_are_ignored_and_values_read(world, tmp_path):
    good = xlsx_bytes([HEADER, ROWS[0]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not really VBA")
    imp = upload(world, tmp_path, buffer.getvalue(), "macro.xlsm")
    preview = importing.validate_import(imp)
    assert preview.rows_valid == 1
    assert "The workbook contains macros; they were ignored." in preview.notes


def test_old_xls_too_big_and_empty_files_are_rejected_at_upload(world, tmp_path, settings):
    with pytest.raises(importing.ImportRejected, match=r"\.xls"):
        upload(world, tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls")
    with pytest.raises(importing.ImportRejected, match="empty"):
        upload(world, tmp_path, b"", "empty.csv")
    settings.PEOPLE_IMPORT_MAX_BYTES = 100
    with pytest.raises(importing.ImportRejected, match="larger than"):
        upload(world, tmp_path, csv_bytes([HEADER, *ROWS]), "big.csv")
    assert not PeopleImport.objects.exists()
    assert list(Path(settings.PEOPLE_IMPORT_DIR).iterdir()) == []  # nothing left on disk


def test_row_cap_missing_columns_and_no_header(world, tmp_path, settings):
    settings.PEOPLE_IMPORT_MAX_ROWS = 2
    imp = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]))
    assert "more than 2 rows" in importing.validate_import(imp).problem

    imp = upload(world, tmp_path, csv_bytes([["Họ và tên", "Số điện thoại"], ["A", "0912345678"]]))
    assert (
        importing.validate_import(imp).problem
        == "Required columns are missing: Ngày sinh (dd/mm/yyyy) hoặc năm sinh, Giới tính."
    )

    imp = upload(world, tmp_path, csv_bytes([["a", "b"], ["c", "d"]]))
    assert importing.validate_import(imp).problem.startswith("No header row was found")


# --- Commit: modes, duplicates, re-imports -------------------------------------------


def test_all_or_nothing_writes_nothing_when_one_row_is_bad(world, tmp_path):
    rows = [HEADER, *ROWS, ["Bad Row 1", "1961", "Nam", "", "", "", "", ""]]
    imp = upload(world, tmp_path, csv_bytes(rows), mode=ImportMode.ALL_OR_NOTHING)
    preview = importing.validate_import(imp)
    assert preview.rows_invalid == 1 and not preview.can_commit
    with pytest.raises(importing.ImportRejected, match="nothing was imported"):
        importing.queue_import(imp=imp, by=world.users["dataentry_a"])

    importing.commit_import(imp)
    imp.refresh_from_db()
    assert imp.status == ImportStatus.FAILED
    assert "1 rows have errors" in imp.failure
    assert Person.objects.count() == 0

    # The user chooses "import the valid rows" after all.
    importing.queue_import(imp=imp, by=world.users["dataentry_a"], mode=ImportMode.VALID_ROWS)
    importing.commit_import(imp)
    imp.refresh_from_db()
    assert (imp.status, imp.people_created) == (ImportStatus.DONE, 3)


def test_reimporting_the_same_file_creates_nobody(world, tmp_path):
    data = xlsx_bytes([HEADER, *ROWS])
    first = run(upload(world, tmp_path, data, "a.xlsx"))
    assert first.people_created == 3
    second = upload(world, tmp_path, data, "a.xlsx")
    preview = importing.validate_import(second)
    assert any("already imported" in note for note in preview.notes)
    second = importing.commit_import(second)
    assert (second.people_created, second.people_matched) == (0, 3)
    assert Person.objects.count() == 3
    assert importing.commit_import(second).people_created == 0  # committing again: no-op


def test_overlapping_rows_add_only_the_new_people(world, tmp_path):
    run(upload(world, tmp_path, csv_bytes([HEADER, ROWS[0], ROWS[1]])))
    later = [HEADER, ROWS[1], ROWS[2], ROWS[0]]
    imp = run(upload(world, tmp_path, csv_bytes(later)))
    assert (imp.people_created, imp.people_matched) == (1, 2)
    assert Person.objects.count() == 3


def test_matching_existing_people_by_cccd_or_identity_and_claimed_cccd(world, tmp_path):
    same = PersonFactory.create(
        full_name="Nguyễn Văn An",
        name_folded="nguyen van an",
        birth_date=None,
        birth_year=1961,
        national_id="079061012345",
        ward=world.ward_b,
        phone="",
        province_code=world.ward_b.province_code,
    )
    stranger = PersonFactory.create(
        full_name="Lý Thị Mai",
        name_folded="ly thi mai",
        birth_year=1990,
        birth_date=dt.date(1990, 1, 1),
        national_id="079090000001",
        ward=world.ward_a,
        province_code=world.ward_a.province_code,
    )
    rows = [
        HEADER,
        ROWS[0],  # same CCCD, same name and year: that person
        [
            "Đinh Văn Phúc",
            "1990",
            "Nam",
            "0912999000",
            "079090000001",
            "",
            "",
            "",
        ],  # someone else's CCCD
    ]
    imp = run(upload(world, tmp_path, csv_bytes(rows)))
    assert (imp.people_created, imp.people_matched) == (1, 1)
    phuc = Person.objects.get(full_name="Đinh Văn Phúc")
    assert phuc.national_id is None and phuc.claimed_national_id == "079090000001"
    stranger.refresh_from_db()
    assert stranger.full_name == "Lý Thị Mai"  # existing people are never modified
    same.refresh_from_db()
    assert same.ward == world.ward_b and same.phone == ""


def test_person_codes_that_collide_are_drawn_again(world, tmp_path, monkeypatch):
    taken = PersonFactory.create(ward=world.ward_a, province_code=world.ward_a.province_code)
    real = importing.new_codes
    calls = []

    def same_code_for_everyone(count):
        calls.append(count)
        return [taken.code] * count if len(calls) == 1 else real(count)

    monkeypatch.setattr(importing, "new_codes", same_code_for_everyone)
    imp = run(upload(world, tmp_path, csv_bytes([HEADER, *ROWS])))
    assert imp.people_created == 3
    assert len(calls) >= 2
    codes = list(Person.objects.values_list("code", flat=True))
    assert len(set(codes)) == 4


# --- Access -------------------------------------------------------------------------


def test_data_entry_of_ward_a_cannot_import_into_ward_b_or_the_province(world, tmp_path):
    data = csv_bytes([HEADER, ROWS[0]])
    for place in (world.ward_b, world.province, world.ward_c):
        with pytest.raises(PermissionDenied):
            upload(world, tmp_path, data, place=place)
    for user in ("nobody", "ward_a", "sampler_a", "labtech_a"):
        with pytest.raises(PermissionDenied):
            upload(world, tmp_path, data, user=user)
    assert not PeopleImport.objects.exists()


def test_rows_naming_another_ward_are_errors(world, tmp_path):
    header = [*HEADER, "Phường/xã"]
    rows = [
        header,
        [*ROWS[0], world.ward_a.code],
        [*ROWS[1], "Phường Bình Minh"],  # ward B, by name
        [*ROWS[2], world.ward_b.code],  # ward B, by code
        ["Lê Thị Hạnh", "1970", "Nữ", "", "", "", "", "", "Tân Ninh"],  # ward A without its kind
    ]
    imp = run(upload(world, tmp_path, csv_bytes(rows)))
    assert errors_by_row(imp) == {3: [("ward", "ward_unknown")], 4: [("ward", "ward_unknown")]}
    assert imp.errors[0]["message"] == "There is no ward with this code or name in Phường Tân Ninh."
    assert imp.people_created == 2
    assert set(Person.objects.values_list("ward", flat=True)) == {world.ward_a.pk}


def test_a_province_import_needs_a_ward_column_and_places_each_row(world, tmp_path):
    imp = upload(world, tmp_path, csv_bytes([HEADER, ROWS[0]]), user="admin", place=world.province)
    assert "add a “Phường/xã” column" in importing.validate_import(imp).problem

    rows = [
        [*HEADER, "Phường/xã"],
        [*ROWS[0], "Tân Ninh"],
        [*ROWS[1], world.ward_b.code],
        [*ROWS[2], world.ward_c.code],
    ]
    imp = run(upload(world, tmp_path, csv_bytes(rows), user="admin", place=world.province))
    assert errors_by_row(imp) == {4: [("ward", "ward_unknown")]}  # ward C is in another province
    assert Person.objects.get(full_name="Trần Thị Bích").ward == world.ward_b


def test_queueing_needs_permission_on_the_place(world, tmp_path):
    imp = upload(world, tmp_path, csv_bytes([HEADER, ROWS[0]]))
    importing.validate_import(imp)
    with pytest.raises(PermissionDenied):
        importing.queue_import(imp=imp, by=world.users["ward_b"])


# --- Atomicity and the worker ---------------------------------------------------------


def test_a_crash_in_the_final_write_leaves_nothing_and_a_retry_finishes(
    world, tmp_path, monkeypatch
):
    imp = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]))
    importing.validate_import(imp)
    real = importing.write_people

    def crash(*args):
        real(*args)  # the rows are written inside the transaction, then the worker dies
        raise ConnectionError("worker killed")

    monkeypatch.setattr(importing, "write_people", crash)
    with pytest.raises(ConnectionError):
        importing.commit_import(imp)
    imp.refresh_from_db()
    assert Person.objects.count() == 0
    assert imp.status == ImportStatus.IMPORTING
    assert imp.error_summary["last_error"] == "ConnectionError: worker killed"

    monkeypatch.setattr(importing, "write_people", real)
    imp = importing.commit_import(imp)
    assert (imp.status, imp.people_created, imp.attempts) == (ImportStatus.DONE, 3, 2)
    assert Person.objects.count() == 3
    assert "last_error" not in imp.error_summary


def many_rows(count: int) -> list[list[str]]:
    return [
        [
            f"Người Thử {chr(ord('A') + i % 26)}{chr(ord('a') + i // 26)}",
            f"{1 + i % 28:02d}/03/1980",
            "Nữ",
            f"09120{i:05d}",
            "",
            "",
            str(i // 3),
            "",
        ]
        for i in range(count)
    ]


@pytest.mark.parametrize("validated_first", [False, True])
def test_chunks_are_written_in_one_transaction(world, tmp_path, monkeypatch, validated_first):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    rows = many_rows(11)
    imp = upload(world, tmp_path, csv_bytes([HEADER, *rows]))
    if validated_first:
        importing.validate_import(imp)
    real = importing.write_people
    calls = []

    def crash_on_third_chunk(*args):
        calls.append(1)
        created = real(*args)
        if len(calls) == 3:
            raise ConnectionError("worker killed")
        return created

    monkeypatch.setattr(importing, "write_people", crash_on_third_chunk)
    with pytest.raises(ConnectionError):
        importing.commit_import(imp)
    assert Person.objects.count() == 0  # two chunks were written, then rolled back
    monkeypatch.setattr(importing, "write_people", real)
    imp = importing.commit_import(imp)
    assert (imp.status, imp.rows_valid, imp.people_created) == (ImportStatus.DONE, 11, 11)
    again = run(upload(world, tmp_path, csv_bytes([HEADER, *rows])))
    assert (again.people_created, again.people_matched) == (0, 11)


def test_a_clash_on_the_identity_key_falls_back_to_on_conflict(world, tmp_path, monkeypatch):
    # Stands in for a registration racing the import: the fast statement meets a
    # unique violation and the chunk is written again, skipping the clash.
    monkeypatch.setattr(importing.RowChecker, "_in_file", lambda *args: None)
    imp = run(upload(world, tmp_path, csv_bytes([HEADER, ROWS[0], ROWS[1], ROWS[0]])))
    assert (imp.status, imp.people_created, imp.people_matched) == (ImportStatus.DONE, 2, 1)


def test_an_unusable_file_fails_the_commit_cleanly(world, tmp_path):
    imp = upload(world, tmp_path, csv_bytes([["a", "b"], ["c", "d"]]))
    imp = importing.commit_import(imp)  # not validated: checked in the same pass
    assert imp.status == ImportStatus.FAILED
    assert imp.failure.startswith("No header row was found")
    assert Person.objects.count() == 0


def test_cli_dry_run_then_import(world, tmp_path):
    path = write(tmp_path, "list.xlsx", messy_workbook())
    out = io.StringIO()
    call_command("import_people", str(path), place=world.ward_a.code, dry_run=True, stdout=out)
    text = out.getvalue()
    assert "\rChecking" in text and "dry run: nothing written" in text
    assert "rows 9  valid 4  with errors 4  repeated in the file 1" in text
    assert Person.objects.count() == 0

    report = tmp_path / "errors.xlsx"
    out = io.StringIO()
    call_command("import_people", str(path), place=world.ward_a.code, errors_out=report, stdout=out)
    assert "new people 4  already registered 0" in out.getvalue()
    assert Person.objects.count() == 4
    assert openpyxl.load_workbook(report).active.max_row == 6


def test_cli_respects_the_users_scope_and_modes(world, tmp_path):
    path = write(
        tmp_path, "list.csv", csv_bytes([HEADER, ROWS[0], ["", "", "Nam", "", "", "", "", ""]])
    )
    with pytest.raises(CommandError, match="may not import"):
        call_command(
            "import_people",
            str(path),
            place=world.ward_b.code,
            as_user="dataentry_a",
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "import_people",
            str(path),
            place=world.ward_a.code,
            mode="all_or_nothing",
            stdout=io.StringIO(),
        )
    assert Person.objects.count() == 0
    with pytest.raises(CommandError, match="No current place"):
        call_command("import_people", str(path), place="nope", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_worker_commits_and_retries_after_a_failed_attempt(tmp_path, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from tests.conftest import build_world

    world = build_world()
    imp = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]))
    importing.validate_import(imp)
    real = importing.write_people
    calls = []

    def flaky(*args):
        calls.append(1)
        created = real(*args)
        if len(calls) == 1:
            raise ConnectionError("worker killed")
        return created

    monkeypatch.setattr(importing, "write_people", flaky)
    importing.queue_import(imp=imp, by=world.users["dataentry_a"])
    imp.refresh_from_db()
    assert imp.status == ImportStatus.QUEUED
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)

    results = list(DBTaskResult.objects.order_by("enqueued_at", "id"))
    assert [r.status for r in results] == ["FAILED", "SUCCESSFUL"]
    imp.refresh_from_db()
    assert (imp.status, imp.people_created, imp.attempts) == (ImportStatus.DONE, 3, 2)
    assert Person.objects.count() == 3
    assert (results[1].return_value or {})["created"] == 3

    # A second upload of the same list through the worker: nobody new.
    again = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]))
    importing.queue_import(
        imp=again, by=world.users["dataentry_a"]
    )  # not validated: the worker does it
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)
    again.refresh_from_db()
    assert (again.status, again.people_created, again.people_matched) == (ImportStatus.DONE, 0, 3)


@pytest.mark.django_db(transaction=True)
def test_the_worker_can_run_the_dry_run(tmp_path):
    from swabline.people.tasks import validate_people_import
    from tests.conftest import build_world

    world = build_world()
    imp = upload(world, tmp_path, csv_bytes([HEADER, *ROWS, ["", "", "", "", "", "", "", ""]]))
    validate_people_import.enqueue(str(imp.public_id))
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)
    imp.refresh_from_db()
    assert (imp.status, imp.rows_valid) == (ImportStatus.VALIDATED, 3)
    assert Person.objects.count() == 0


# --- Small pieces -----------------------------------------------------------------------


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1))
def test_staging_lines_round_trip(values):
    line = "\t".join("\\N" if v is None else importing.copy_text(v) for v in values) + "\n"
    assert line.count("\n") == 1
    assert importing.parse_copy_line(line) == values


@pytest.mark.parametrize(
    ("cell", "key"),
    [
        ("Họ và tên*", "full_name"),
        ("HO VA TEN", "full_name"),
        (unicodedata.normalize("NFD", "Ngày sinh (dd/mm/yyyy) hoặc năm sinh*"), "birth"),
        ("Số điện thoại di động", "phone"),
        ("SĐT", "phone"),
        ("CCCD/CMND", "national_id"),
        ("Phường/Xã", "ward"),
        ("Quan hệ với chủ hộ", "head"),
        ("Ghi chú", None),
        (12.0, None),
    ],
)
def test_header_matching(cell, key):
    assert importing.match_header(cell) == key


def test_generated_codes_are_valid_person_codes():
    codes = importing.new_codes(2000)
    assert all(normalize_person_code(code) == code for code in codes)
    assert len(set(codes)) > 1990


NAME_CHARACTERS = "aăâdđeêioôơuưyAĂÂĐOƠƯ nguyễnthịbíchNGỌC'-.\u0301\u0303\u0323\u00a0\t3_@Ⅻß"


@given(st.text(alphabet=NAME_CHARACTERS, max_size=40))
def test_names_checked_word_by_word_equal_clean_name(raw):
    # The import cleans names from cached words; it must agree with identity.clean_name
    # (and fold) on every input, and leave every refusal to clean_name.
    from swabline.core.text import fold
    from swabline.people import identity

    checker = type("Stub", (), {"_words": {}})()
    for text in (raw, unicodedata.normalize("NFD", raw)):
        fast = importing.RowChecker._name(checker, text)
        try:
            expected = identity.clean_name(text)
        except ValidationError:
            assert fast is None
            continue
        assert fast == (expected, fold(expected))


@pytest.mark.parametrize(
    "raw", ["Nguyễn Văn An", "  trần   thị  BÍCH ", "H'HEN NIÊ", "y-ngông niê", "Lê Văn A."]
)
def test_usual_names_take_the_word_cache(raw):
    from swabline.core.text import fold
    from swabline.people import identity

    checker = type("Stub", (), {"_words": {}})()
    expected = identity.clean_name(raw)
    assert importing.RowChecker._name(checker, raw) == (expected, fold(expected))
