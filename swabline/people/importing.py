"""Bulk import of people from a volunteer's spreadsheet (XLSX) or CSV file.

The flow (DESIGN §3 and §9; the web pages and the CLI both call these functions):

1. `create_import` stores the upload under `PEOPLE_IMPORT_DIR` (size-capped, hashed)
   after checking that the user may import into the place.
2. `validate_import` is the dry run: it streams the file, finds the header row under
   any title rows, checks every row and column, and records counts and the first
   errors. Valid rows are written, cleaned, to a side file next to the upload; failing
   rows to another one, from which `failing_rows_xlsx` builds the report to download.
3. `queue_import` hands the commit to the background worker (`tasks.run_people_import`);
   the CLI calls `commit_import` itself.
4. `commit_import` streams the cleaned rows (from the side file, or straight from the
   file in one pass when nothing was validated here) in chunks of 50,000 into a
   temporary staging table (COPY on PostgreSQL) and merges each chunk into
   `people_person` with a set-based INSERT…SELECT, the server writing one chunk while
   Python checks the next. All chunks and the import's final status are one
   transaction: after a crash there is either nothing of the import or all of it,
   and running it again finishes it. Progress is written through a second connection.

Duplicates are never created: inside the file the later copy of a person is skipped;
against the database a row matches an existing person by CCCD (same folded name and
birth year, as in `services._match`) or by `identity_key` and is counted as matched.
A CCCD that belongs to someone else is kept as `claimed_national_id`, as registration
does. Existing people are never modified by an import.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import operator
import os
import re
import secrets
import shutil
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models import NOT_PROVIDED
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.core.text import fold, normalize_text
from swabline.people import identity
from swabline.people.codes import CODE_ALPHABET, CODE_RANDOM_LENGTH
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import (
    ImportMode,
    ImportPhase,
    ImportStatus,
    PeopleImport,
    Person,
)
from swabline.places.enums import Level, System
from swabline.places.models import Place

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

log = logging.getLogger(__name__)

Cell = Any  # what a reader yields for one cell: str, float, int, bool, date, datetime, None
ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)


# --- Limits (settings, with defaults) ----------------------------------------------


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def import_dir() -> Path:
    """Where uploads and their side files live (`PEOPLE_IMPORT_DIR`)."""
    return Path(_setting("PEOPLE_IMPORT_DIR", settings.BASE_DIR / "var" / "imports"))


def max_bytes() -> int:
    """Largest upload through the web (`PEOPLE_IMPORT_MAX_BYTES`)."""
    return int(_setting("PEOPLE_IMPORT_MAX_BYTES", 50 * 1024 * 1024))


def max_bytes_cli() -> int:
    """Largest file for the command line (`PEOPLE_IMPORT_CLI_MAX_BYTES`): a million rows
    of CSV take about 100 MB."""
    return int(_setting("PEOPLE_IMPORT_CLI_MAX_BYTES", 500 * 1024 * 1024))


def max_rows() -> int:
    return int(_setting("PEOPLE_IMPORT_MAX_ROWS", 1_000_000))


def max_uncompressed_bytes() -> int:
    return int(_setting("PEOPLE_IMPORT_MAX_UNCOMPRESSED_BYTES", 500 * 1024 * 1024))


def max_compression_ratio() -> int:
    return int(_setting("PEOPLE_IMPORT_MAX_COMPRESSION_RATIO", 100))


def max_xlsx_rows() -> int:
    """Largest worksheet read (`PEOPLE_IMPORT_MAX_XLSX_ROWS`): the XLSX reader holds a
    whole sheet in memory (~0.7 kB a row), so bigger lists must come as CSV, which is
    streamed."""
    return int(_setting("PEOPLE_IMPORT_MAX_XLSX_ROWS", 300_000))


def max_errors_kept() -> int:
    return int(_setting("PEOPLE_IMPORT_MAX_ERRORS", 1000))


def max_failing_rows_kept() -> int:
    return int(_setting("PEOPLE_IMPORT_MAX_FAILING_ROWS", 200_000))


def stale_after() -> dt.timedelta:
    """An import 'importing' without a heartbeat for this long may be queued again."""
    return dt.timedelta(seconds=int(_setting("PEOPLE_IMPORT_STALE_SECONDS", 600)))


PROGRESS_EVERY = 20_000  # rows between progress writes
HEADER_SCAN_ROWS = 20
MAX_SHEETS_SCANNED = 10
# Compression-ratio checks only apply to parts above this size: tiny XML parts
# (styles, relationships) legitimately compress very well.
RATIO_CHECK_MIN_BYTES = 1024 * 1024
SMALL_XML_PART = 1024 * 1024
FILE_FORMATS = ("xlsx", "csv")


# --- Errors ------------------------------------------------------------------------


class ImportRejected(ValidationError):
    """The upload or the request cannot be accepted (size, type, state); shown as is."""


class FileProblem(Exception):
    """The whole file is unusable (damaged, refused, no header): the import fails."""

    def __init__(self, code: str, message: StrOrPromise) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


def _problem(code: str) -> FileProblem:
    return FileProblem(code, FILE_MESSAGES[code])


FILE_MESSAGES: dict[str, StrOrPromise] = {
    "empty_file": _("The file is empty."),
    "unsupported": _("Upload an Excel workbook (.xlsx) or a CSV file."),
    "old_excel": _(
        "This is an old Excel file (.xls) or a password-protected workbook: open it in "
        "Excel, remove any password, save it as “Excel Workbook (.xlsx)” and upload it again."
    ),
    "damaged": _("The Excel file is damaged or is not really an .xlsx file."),
    "zip_bomb": _(
        "The Excel file expands to far more data than a list of people holds; it was refused."
    ),
    "xml_entities": _(
        "The Excel file contains XML entity declarations, which are not allowed; it was refused."
    ),
    "encoding": _(
        "The text encoding of this CSV file could not be recognised. In Excel, save it as "
        "“CSV UTF-8 (Comma delimited)” and upload it again."
    ),
    "csv_damaged": _("The CSV file is damaged (a cell is too long or holds binary data)."),
    "no_header": _(
        "No header row was found in the first rows of the file. Use the template: the "
        "row above the people must hold the column names (Họ và tên, Ngày sinh, Giới tính…)."
    ),
    "no_rows": _("The file has no rows of people under its header row."),
}


# --- Columns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of the template: its key, Vietnamese header and accepted aliases."""

    key: str
    header: str
    required: bool
    aliases: tuple[str, ...]
    text_format: bool = False  # formatted as text in the template (keeps leading zeros)
    width: int = 16


# Headers are data of the file format (Vietnamese on purpose), not interface chrome.
COLUMNS: tuple[Column, ...] = (
    Column(
        "full_name",
        "Họ và tên*",
        True,
        ("ho va ten", "ho ten", "ten", "ho va ten day du", "ten day du", "full name",
         "fullname", "name", "ho ten nguoi duoc lay mau"),
        width=28,
    ),
    Column(
        "birth",
        "Ngày sinh (dd/mm/yyyy) hoặc năm sinh*",
        True,
        ("ngay sinh hoac nam sinh", "ngay sinh", "nam sinh", "ngay thang nam sinh",
         "ngay thang nam sinh hoac nam sinh", "sinh ngay", "ns", "date of birth", "birth date",
         "birthdate", "dob", "year of birth", "birth year", "born"),
        width=22,
    ),
    Column(
        "sex",
        "Giới tính*",
        True,
        ("gioi tinh", "gioi", "phai", "nam nu", "sex", "gender"),
        width=11,
    ),
    Column(
        "phone",
        "Số điện thoại",
        False,
        ("so dien thoai", "dien thoai", "sdt", "so dt", "dt", "dtdd", "so dtdd",
         "dien thoai di dong", "so di dong", "di dong", "phone", "phone number", "mobile",
         "telephone", "tel"),
        text_format=True,
    ),
    Column(
        "national_id",
        "CCCD",
        False,
        ("cccd", "so cccd", "cccd cmnd", "cmnd cccd", "so cccd cmnd", "so cmnd cccd", "can cuoc",
         "can cuoc cong dan", "so can cuoc", "so can cuoc cong dan", "cmnd", "so cmnd",
         "ma dinh danh", "so dinh danh", "so dinh danh ca nhan", "national id", "id number",
         "citizen id", "cccd number"),
        text_format=True,
    ),
    Column(
        "ward",
        "Phường/xã",
        False,
        ("phuong xa", "phuong", "xa", "xa phuong", "ma phuong xa", "ten phuong xa",
         "phuong xa thi tran", "ward", "ward code", "commune"),
        width=20,
    ),
    Column(
        "address",
        "Địa chỉ",
        False,
        ("dia chi", "dia chi cu the", "dia chi noi o", "so nha", "noi o", "noi o hien tai",
         "cho o hien nay", "cho o", "address", "street address"),
        width=30,
    ),
    Column(
        "household",
        "Mã hộ",
        False,
        ("ma ho", "so ho", "ma ho gia dinh", "so ho gia dinh", "ho gia dinh", "ho so", "stt ho",
         "household", "household number", "household no", "household id"),
        text_format=True,
        width=10,
    ),
    Column(
        "head",
        "Chủ hộ",
        False,
        ("chu ho", "la chu ho", "head", "head of household", "household head",
         "quan he voi chu ho", "quan he chu ho", "quan he"),
        width=9,
    ),
)  # fmt: skip
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
REQUIRED_KEYS = tuple(c.key for c in COLUMNS if c.required)
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def header_key(text: object) -> str:
    """A header cell reduced for matching: folded, without notes in brackets, stars or
    punctuation ("Ngày sinh (dd/mm/yyyy) hoặc năm sinh*" -> "ngay sinh hoac nam sinh")."""
    folded = fold(str(text))
    return " ".join(_NOT_ALNUM.sub(" ", _PARENTHESES.sub(" ", folded)).split())


_ALIASES: dict[str, str] = {}
for _column in COLUMNS:
    for _alias in (header_key(_column.header), *_column.aliases):
        _ALIASES.setdefault(header_key(_alias), _column.key)
# Multi-word aliases also match as a prefix ("so dien thoai di dong" -> phone).
_PREFIX_ALIASES = sorted(
    ((alias, key) for alias, key in _ALIASES.items() if " " in alias),
    key=lambda item: -len(item[0]),
)


def match_header(cell: object) -> str | None:
    """The column key a header cell names, or None."""
    if cell is None or isinstance(cell, bool | int | float):
        return None
    text = header_key(cell)
    if not text:
        return None
    key = _ALIASES.get(text)
    if key is not None:
        return key
    for alias, alias_key in _PREFIX_ALIASES:
        if text.startswith(alias + " "):
            return alias_key
    return None


@dataclass
class Header:
    """The header row found in a file: where it is and which cells hold which column."""

    index: int  # 0-based position among the rows read
    cells: list[str]
    columns: dict[str, list[int]]

    @property
    def score(self) -> int:
        return len(self.columns)

    def label(self, key: str) -> str:
        """The header text this file uses for a column (for error messages)."""
        indices = self.columns.get(key)
        if indices and indices[0] < len(self.cells) and self.cells[indices[0]].strip():
            return normalize_text(self.cells[indices[0]])
        return COLUMN_BY_KEY[key].header.rstrip("*")


def read_header(row: list[Cell], index: int) -> Header:
    columns: dict[str, list[int]] = {}
    for position, cell in enumerate(row):
        key = match_header(cell)
        if key is not None:
            columns.setdefault(key, []).append(position)
    return Header(index=index, cells=[_display(c) for c in row], columns=columns)


def find_header(rows: list[list[Cell]]) -> Header | None:
    """The row among the first ones that names the most known columns (title rows,
    merged cells and blank rows above it are skipped). None if no row names at least
    two columns including the name."""
    best: Header | None = None
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        header = read_header(row, index)
        named = "full_name" in header.columns and header.score >= 2
        if named and (best is None or header.score > best.score):
            best = header
    return best


# --- Reading files -----------------------------------------------------------------


@dataclass
class Source:
    """An opened file: its rows (with their 1-based row numbers as the user sees them),
    what was found out about it, and how far reading has got."""

    rows: Iterator[tuple[int, list[Cell]]]
    header: Header
    info: dict[str, Any]
    notes: list[str]
    position: Callable[[], tuple[int, int]]  # (done, total) in the reader's own unit


def file_format_of(filename: str, head: bytes) -> str:
    """ "xlsx" or "csv" from the name and the first bytes; raises FileProblem otherwise."""
    lowered = filename.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # OLE: .xls, or an encrypted .xlsx
        raise _problem("old_excel")
    if head.startswith(b"PK\x03\x04"):  # a zip: only a workbook is read from one
        return "xlsx"
    if lowered.endswith(".xls"):
        raise _problem("old_excel")
    if lowered.endswith((".xlsx", ".xlsm")):
        raise _problem("damaged")
    if lowered.endswith((".csv", ".txt", ".tsv")) or "." not in lowered:
        return "csv"
    raise _problem("unsupported")


def check_xlsx_safety(path: Path) -> list[str]:
    """Refuse zip bombs and XML entity tricks before any XLSX parser sees the file.

    Checks the zip directory (entry count, total expanded size, compression ratio of
    big parts), then reads every part once, in bounded chunks, which also verifies the
    sizes and CRCs the directory claims. Small XML parts are parsed with defusedxml
    (DTDs and entities forbidden); big ones are scanned for DOCTYPE/ENTITY. Returns
    notes (macros are present but ignored: only cell values are ever read).
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError
    from defusedxml.ElementTree import fromstring as safe_fromstring

    notes: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _problem("damaged") from exc
    with archive:
        infos = archive.infolist()
        names = {info.filename for info in infos}
        if len(infos) > 10_000:
            raise _problem("zip_bomb")
        if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
            raise _problem("damaged")
        if "xl/workbook.bin" in names:  # .xlsb: not supported
            raise _problem("unsupported")
        if sum(info.file_size for info in infos) > max_uncompressed_bytes():
            raise _problem("zip_bomb")
        for info in infos:
            if info.file_size > RATIO_CHECK_MIN_BYTES and (
                info.compress_size == 0
                or info.file_size / info.compress_size > max_compression_ratio()
            ):
                raise _problem("zip_bomb")
        if any(name.lower().endswith("vbaproject.bin") for name in names):
            notes.append(str(_("The workbook contains macros; they were ignored.")))
        for info in infos:
            lowered = info.filename.lower()
            is_xml = lowered.endswith((".xml", ".rels", ".vml"))
            try:
                if is_xml and info.file_size <= SMALL_XML_PART:
                    data = archive.read(info)
                    try:
                        safe_fromstring(data, forbid_dtd=True)
                    except DefusedXmlException as exc:
                        raise _problem("xml_entities") from exc
                    except ParseError as exc:
                        raise _problem("damaged") from exc
                    rows, cells = data.count(b"<row"), data.count(b"<c ")
                else:
                    rows, cells = _scan_part(archive, info, check_markup=is_xml)
                if lowered.startswith("xl/worksheets/"):
                    _check_sheet_size(rows, cells)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                raise _problem("damaged") from exc
            except NotImplementedError as exc:  # an unsupported compression method
                raise _problem("damaged") from exc
    return notes


CELLS_PER_ROW_MAX = 15  # the template has 9 columns; volunteers add a few


def _check_sheet_size(rows: int, cells: int) -> None:
    """Refuse a worksheet too big to hold in memory (the XLSX reader loads a whole
    sheet), counted from its XML: <row> and <c> elements."""
    limit = max_xlsx_rows()
    if rows > limit + HEADER_SCAN_ROWS or cells > limit * CELLS_PER_ROW_MAX:
        raise FileProblem(
            "xlsx_too_big",
            _(
                "This workbook has %(rows)s rows; a workbook is read whole, so at most "
                "%(limit)s rows are accepted. Save the sheet as “CSV UTF-8” and upload "
                "that instead, or split the list."
            )
            % {"rows": f"{rows:,}".replace(",", "."), "limit": f"{limit:,}".replace(",", ".")},
        )


_MARKUP = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")


def _scan_part(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, check_markup: bool
) -> tuple[int, int]:
    """Read one part in chunks (never more than it claims), looking for DTD markup;
    returns how many <row> and <c> elements it holds."""
    read = rows = cells = 0
    tail = b""
    with archive.open(info) as part:
        while chunk := part.read(1024 * 1024):
            if not read and check_markup and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise _problem("damaged")  # UTF-16 parts could hide markup from the scan
            read += len(chunk)
            if read > info.file_size:
                raise _problem("zip_bomb")
            if check_markup:
                window = tail + chunk
                if b"<!" in window and any(marker in window for marker in _MARKUP):
                    raise _problem("xml_entities")
                rows += window.count(b"<row") - tail.count(b"<row")
                cells += window.count(b"<c ") - tail.count(b"<c ")
                tail = chunk[-16:]
    return rows, cells


def open_xlsx(path: Path) -> Source:
    """Rows of the first visible worksheet that has a header row (values only)."""
    notes = check_xlsx_safety(path)
    from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        candidates = [
            index
            for index, meta in enumerate(workbook.sheets_metadata)
            if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible
        ][:MAX_SHEETS_SCANNED]
        for index in candidates:
            sheet = workbook.get_sheet_by_index(index)
            rows = sheet.iter_rows()
            first: list[list[Cell]] = []
            for row in rows:
                first.append(row)
                if len(first) >= HEADER_SCAN_ROWS:
                    break
            header = find_header(first)
            if header is not None:
                total = max(sheet.total_height, sheet.height, 1)
                info = {"format": "xlsx", "sheet": sheet.name, "header_row": header.index + 1}
                return _sheet_source(first, rows, total, header, info, notes)
    except (CalamineError, OSError, ValueError) as exc:
        raise _problem("damaged") from exc
    raise _problem("no_header")


def _sheet_source(
    first: list[list[Cell]],
    rest: Iterator[list[Cell]],
    total: int,
    header: Header,
    info: dict[str, Any],
    notes: list[str],
) -> Source:
    state = {"row": 0}

    def numbered() -> Iterator[tuple[int, list[Cell]]]:
        # calamine's iter_rows starts at the sheet's first row (row 1), whatever is in it.
        for number, row in enumerate(itertools.chain(first, rest), start=1):
            state["row"] = number
            yield number, row

    return Source(
        rows=numbered(),
        header=header,
        info=info,
        notes=notes,
        position=lambda: (state["row"], total),
    )


# Bytes that differ between Windows-1258 and Windows-1252 and tell them apart: the
# Vietnamese combining tone marks of 1258 (grave, hook, tilde, acute, dot below) ...
_TONE_BYTES = frozenset(b"\xcc\xd2\xde\xec\xf2")
# ... which in 1258 follow a vowel (plain, or with a circumflex, breve or horn).
_VOWEL_BYTES_1258 = frozenset(b"aeiouyAEIOUY\xc2\xc3\xca\xd4\xd5\xdd\xe2\xe3\xea\xf4\xf5\xfd")
_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-16": "UTF-16",
    "cp1258": "Windows-1258",
    "cp1252": "Windows-1252",
}


def detect_csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) first; else Windows-1258 or Windows-1252; else refuse.

    The two Windows code pages are told apart by the Vietnamese tone-mark bytes of
    Windows-1258: there they follow a vowel, while the same bytes in a Windows-1252
    file are letters (ì ò Ì Ò Þ) that follow anything. A file without any of those
    bytes reads the same either way, except Đ/đ (1258) versus Ð/ð (1252, never
    Vietnamese). Whichever is chosen must decode the whole file.
    """
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(codecs.BOM_UTF8):
        return _whole_file_decodes(path, "utf-8-sig") or _raise_encoding()
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _whole_file_decodes(path, "utf-16") or _raise_encoding()
    if _whole_file_decodes(path, "utf-8"):
        return "utf-8"
    with path.open("rb") as handle:
        sample = handle.read(4 * 1024 * 1024)
    after_vowel = elsewhere = 0
    previous = 0
    for byte in sample:
        if byte in _TONE_BYTES:
            if previous in _VOWEL_BYTES_1258:
                after_vowel += 1
            else:
                elsewhere += 1
        previous = byte
    if after_vowel + elsewhere:
        first = "cp1258" if after_vowel >= 0.8 * (after_vowel + elsewhere) else "cp1252"
    else:
        first = "cp1258" if (b"\xd0" in sample or b"\xf0" in sample) else "cp1252"
    second = "cp1252" if first == "cp1258" else "cp1258"
    for candidate in (first, second):
        if _whole_file_decodes(path, candidate):
            return candidate
    return _raise_encoding()


def _raise_encoding() -> str:
    raise _problem("encoding")


def _whole_file_decodes(path: Path, encoding: str) -> str | None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return encoding


def open_csv(path: Path) -> Source:
    """Rows of a CSV file: encoding detected, delimiter chosen by the best header."""
    encoding = detect_csv_encoding(path)
    size = max(path.stat().st_size, 1)
    binary = path.open("rb")
    handle = io.TextIOWrapper(binary, encoding=encoding, newline="")
    try:
        head_lines: list[str] = []
        for line in handle:
            head_lines.append(line)
            if len(head_lines) >= HEADER_SCAN_ROWS:
                break
        best: tuple[Header, str] | None = None
        for delimiter in (",", ";", "\t", "|"):
            try:
                rows = list(csv.reader(head_lines, delimiter=delimiter))
            except csv.Error:
                continue
            header = find_header(rows)
            if header is not None and (best is None or header.score > best[0].score):
                best = (header, delimiter)
        if best is None:
            raise _problem("no_header")
        header, delimiter = best
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)

        def numbered() -> Iterator[tuple[int, list[Cell]]]:
            number = 0
            try:
                try:
                    for row in reader:
                        number += 1
                        yield number, row
                except csv.Error as exc:
                    raise _problem("csv_damaged") from exc
            finally:
                handle.close()

        def position() -> tuple[int, int]:
            try:
                return binary.tell(), size
            except (OSError, ValueError):
                return size, size

        return Source(
            rows=numbered(),
            header=header,
            info={
                "format": "csv",
                "encoding": _ENCODING_LABELS.get(encoding, encoding),
                "delimiter": delimiter,
                "header_row": header.index + 1,
            },
            notes=[],
            position=position,
        )
    except BaseException:
        handle.close()
        raise


def open_source(path: Path, file_format: str) -> Source:
    if file_format == "xlsx":
        return open_xlsx(path)
    if file_format == "csv":
        return open_csv(path)
    raise _problem("unsupported")


# --- Checking rows -----------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    field: str
    code: str
    message: str


# The template's example rows (skipped if left in a file).
EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("Nguyễn Văn An", "15/08/1961", "Nam", "0912345678", "079061012345", "",
     "12 Lê Lợi", "1", "x"),
    ("Trần Thị Bích", "1975", "Nữ", "0987654321", "", "", "12 Lê Lợi", "1", ""),
)  # fmt: skip
_EXAMPLE_KEYS = frozenset((row[0], row[1], row[3][1:]) for row in EXAMPLE_ROWS)
_EXAMPLE_NAMES = frozenset(row[0] for row in EXAMPLE_ROWS)

SEX_VALUES: dict[str, str] = {
    "nam": Sex.MALE, "m": Sex.MALE, "male": Sex.MALE, "trai": Sex.MALE, "nam gioi": Sex.MALE,
    "nu": Sex.FEMALE, "f": Sex.FEMALE, "female": Sex.FEMALE, "gai": Sex.FEMALE,
    "nu gioi": Sex.FEMALE, "khac": Sex.OTHER, "o": Sex.OTHER, "other": Sex.OTHER,
}  # fmt: skip
HEAD_TRUE = frozenset({"x", "co", "c", "1", "yes", "y", "true", "chu ho", "ch", "v", "✓", "✔"})
HEAD_FALSE = frozenset({"", "0", "khong", "k", "no", "n", "false"})
_COLUMN_NUMBER = re.compile(r"^\(?\d{1,2}\)?$")
_SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?[eE]\+?\d+$")
MAX_HOUSEHOLD_KEY = Person._meta.get_field("household_key").max_length or 40
MAX_ADDRESS = Person._meta.get_field("address").max_length or 300

ROW_MESSAGES: dict[str, StrOrPromise] = {
    "sex_required": _("Enter the sex (Nam, Nữ or Khác)."),
    "sex_invalid": _("Write Nam, Nữ or Khác."),
    "ward_required": _("Enter the ward (its code or name)."),
    "ward_unknown": _("There is no ward with this code or name in %(place)s."),
    "ward_ambiguous": _("Several wards in %(place)s have this name: write the ward code."),
    "household_long": _("The household number is too long."),
    "head_invalid": _("Write “x” for the head of the household, or leave the cell empty."),
    "address_long": _("The address is longer than %(max)s characters."),
    "cccd_scientific": _(
        "Excel turned this CCCD into a rounded number (%(value)s) and its digits are lost: "
        "format the column as Text and type the number again."
    ),
    "cccd_year": _("This CCCD does not match the year of birth."),
    "lost_letters": _(
        "Vietnamese letters were lost when this file was saved (“?” in the name): "
        "save it as “CSV UTF-8” or as an Excel workbook."
    ),
    "duplicate_in_file": _("The same person as row %(row)s: this row is skipped."),
    "cccd_in_file": _("Row %(row)s has the same CCCD for a different person."),
    "cccd_differs_in_file": _(
        "Row %(row)s has the same name, date of birth and phone but another CCCD."
    ),
}


@dataclass(frozen=True)
class Ward:
    id: int
    code: str
    province_code: str
    copy_prefix: str  # "id<TAB>province_code" for the staging line


FIELD_ORDER = (
    "full_name",
    "birth",
    "sex",
    "phone",
    "national_id",
    "ward",
    "address",
    "household",
    "head",
)


Birth = tuple[dt.date | None, int, str, str]
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*")
_NAME_LAST_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*\.?")


def _name_word(word: str) -> tuple[bool, bool, str, str]:
    """One word of a name (NFC, no white space): whether it may stand inside a name and
    at its end (identity._NAME_ALLOWED, word by word), capitalised as clean_name does,
    and folded."""
    inner = _NAME_WORD.fullmatch(word) is not None
    last = inner or _NAME_LAST_WORD.fullmatch(word) is not None
    if not last:
        return False, False, "", ""
    cleaned = identity.capitalise_name(word)
    return inner, last, cleaned, fold(cleaned)


class RowChecker:
    """Checks one row at a time: returns its line for the staging table, or its errors.

    Kept lean for a million rows (the budget is ~20 µs a row): each row's cells are
    picked once, the cells that repeat (dates of birth, sexes, wards, head marks,
    addresses, name syllables) are cleaned once and cached, the identity rules of
    `people.identity` are called only where they do real work, and duplicates are
    found on 64-bit hashes of the identity key (a false "duplicate" needs a hash
    collision: about 1 in 10^8 for a million rows).
    """

    def __init__(self, place: Place, header: Header, today: dt.date) -> None:
        self.place = place
        self.header = header
        self.today = today
        self.single_ward = place.level == Level.WARD
        self.slots = tuple(tuple(header.columns.get(key, ())) for key in FIELD_ORDER)
        # When every field has at most one column, a row is picked with one itemgetter
        # (position -1, a blank cell appended to the row, for the fields the file lacks).
        self._getter: Callable[[list[Cell]], tuple[Cell, ...]] | None = None
        self._widest = max((i for slot in self.slots for i in slot), default=0)
        if all(len(slot) <= 1 for slot in self.slots):
            self._getter = operator.itemgetter(*(slot[0] if slot else -1 for slot in self.slots))
        self.head_lenient = any(
            header_key(header.cells[i]).startswith("quan he")
            for i in header.columns.get("head", [])
            if i < len(header.cells)
        )
        self._wards_by_code: dict[str, Ward] = {}
        self._wards_by_name: dict[str, list[Ward]] = {}
        self._load_wards()
        self._birth_cache: dict[Any, Birth | ValidationError] = {}
        self._words: dict[str, tuple[bool, bool, str, str]] = {}
        self._ward_cache: dict[Any, Ward | RowError] = {}
        self._sex_cache: dict[Any, str | None] = {}
        self._head_cache: dict[Any, bool | None] = {}
        self._text_cache: dict[str, str] = {}
        self._syllables: dict[str, str] = {}
        name_cells = [header.cells[i] for i in header.columns["full_name"] if i < len(header.cells)]
        self._header_names = frozenset(c.strip() for c in name_cells)
        self._ids = IdSource()
        self.by_identity: dict[int, int] = {}  # hash(identity_key) -> row << 40 | cccd
        self.by_cccd: dict[int, int] = {}  # cccd -> row

    def _load_wards(self) -> None:
        wards = Place.objects.filter(
            path__startswith=self.place.path, level=Level.WARD, system=System.CURRENT
        ).values_list("id", "code", "name", "short_name", "kind", "province_code")
        for pk, code, name, short_name, kind, province_code in wards:
            ward = Ward(pk, code, province_code, f"{pk}\t{province_code}")
            self._wards_by_code[code] = ward
            names = {fold(name), fold(short_name)}
            folded_kind = fold(kind or "")
            for value in list(names):
                if folded_kind and value.startswith(folded_kind + " "):
                    names.add(value[len(folded_kind) + 1 :])
            for value in names:
                if value:
                    entries = self._wards_by_name.setdefault(value, [])
                    if ward not in entries:
                        entries.append(ward)

    def field_label(self, key: str) -> str:
        return self.header.label(key)

    def pick(self, cells: list[Cell]) -> list[Cell]:
        """The row's cell for each field in FIELD_ORDER ("" when missing or blank)."""
        size = len(cells)
        if self._getter is not None and size > self._widest:
            # One column per field and a full row (the usual case): picked in C, a
            # field the file lacks reading the blank cell appended for the moment.
            cells.append("")
            got = self._getter(cells)
            cells.pop()
            return [
                ""
                if cell is None or (cell.__class__ is str and (not cell or cell.isspace()))
                else cell
                for cell in got
            ]
        picked: list[Cell] = []
        append = picked.append
        for indices in self.slots:
            value: Cell = ""
            for i in indices:
                if i < size:
                    cell = cells[i]
                    if cell is None:
                        continue
                    if cell.__class__ is str and (not cell or cell.isspace()):
                        continue
                    value = cell
                    break
            append(value)
        return picked

    def noise(self, values: list[Cell], row_no: int) -> str | None:
        """Why a row is not a person, if it is not: a repeated header row ("header"), a
        row of column numbers under the header ("(1) (2) (3)": "numbers"), or one of
        the template's example rows ("example")."""
        name = values[0]
        if isinstance(name, str):
            text = name.strip()
            if text in self._header_names:
                return "header"
            if text in _EXAMPLE_NAMES:
                birth = _display(values[1]).strip()
                phone = _display(values[3]).strip().lstrip("0")
                return "example" if (text, birth, phone) in _EXAMPLE_KEYS else None
            if len(text) <= 4 and _COLUMN_NUMBER.match(text) and row_no <= self.header.index + 4:
                return "numbers"
        elif isinstance(name, int | float) and row_no <= self.header.index + 4:
            return "numbers"
        return None

    def check(self, row_no: int, values: list[Cell]) -> str | list[RowError]:
        """The staging line (COPY text format) of a valid row, or the row's errors
        (at most one per column)."""
        raw_name, raw_birth, raw_sex, raw_phone, raw_cccd, raw_ward, raw_address = values[:7]
        raw_household, raw_head = values[7], values[8]
        errors: list[RowError] = []
        # Name
        full_name = name_folded = ""
        named = self._name(raw_name)
        if named is not None:
            full_name, name_folded = named
        else:
            try:
                full_name = identity.clean_name(
                    raw_name if raw_name.__class__ is str else _text(raw_name)
                )
                name_folded = self._fold_name(full_name)
            except ValidationError as exc:
                if isinstance(raw_name, str) and "?" in raw_name:
                    errors.append(self._error("full_name", "lost_letters"))
                else:
                    errors.append(RowError("full_name", _code(exc), _message(exc)))
        # Birth
        birth = self._birth(raw_birth)
        if birth.__class__ is tuple:
            _date, birth_year, born, birth_copy = birth
        else:
            assert isinstance(birth, ValidationError)
            errors.append(RowError("birth", _code(birth), _message(birth)))
            birth_year, born, birth_copy = 0, "", _NULL
        # Sex
        sex = self._sex(raw_sex)
        if sex is None:
            errors.append(self._error("sex", "sex_required" if raw_sex == "" else "sex_invalid"))
        # Phone
        phone = ""
        if raw_phone != "":
            if (  # the usual "0912345678": what clean_phone returns, without its work
                raw_phone.__class__ is str
                and len(raw_phone) == 10
                and raw_phone[0] == "0"
                and raw_phone.isascii()
                and raw_phone.isdigit()
                and raw_phone[1:3] in identity.MOBILE_PREFIXES
            ):
                phone = "+84" + raw_phone[1:]
            else:
                try:
                    phone = identity.clean_phone(raw_phone)
                except ValidationError as exc:
                    errors.append(RowError("phone", _code(exc), _message(exc)))
        # CCCD
        national_id: str | None = None
        if raw_cccd != "":
            if (  # the usual twelve digits: what clean_cccd returns, without its work
                raw_cccd.__class__ is str
                and len(raw_cccd) == 12
                and raw_cccd.isascii()
                and raw_cccd.isdigit()
                and raw_cccd[3] in "0123"
                and raw_cccd[:3] in identity.CCCD_PROVINCES
            ):
                national_id = raw_cccd
                if birth_year and not identity.cccd_birth_year_matches(national_id, birth_year):
                    errors.append(self._error("national_id", "cccd_year"))
            elif raw_cccd.__class__ is str and _SCIENTIFIC.match(raw_cccd.strip()):
                errors.append(self._error("national_id", "cccd_scientific", value=raw_cccd.strip()))
            else:
                try:
                    national_id = identity.clean_cccd(raw_cccd)
                except ValidationError as exc:
                    errors.append(RowError("national_id", _code(exc), _message(exc)))
                if (
                    national_id
                    and birth_year
                    and not identity.cccd_birth_year_matches(national_id, birth_year)
                ):
                    errors.append(self._error("national_id", "cccd_year"))
        # Ward
        ward = self._ward(raw_ward)
        if ward.__class__ is not Ward:
            assert isinstance(ward, RowError)
            errors.append(ward)
        # Address
        address = self._clean_text(raw_address) if raw_address != "" else ""
        if len(address) > MAX_ADDRESS:
            errors.append(self._error("address", "address_long", max=MAX_ADDRESS))
        # Household and its head
        household_key = ""
        if raw_household != "" and isinstance(ward, Ward):
            household_key = f"{ward.code}:{self._clean_text(raw_household)}"
            if len(household_key) > MAX_HOUSEHOLD_KEY:
                errors.append(self._error("household", "household_long"))
        is_head = False
        if raw_head != "":
            head = self._head(raw_head)
            if head is None:
                errors.append(self._error("head", "head_invalid"))
            else:
                is_head = head
        if errors:
            return errors
        assert isinstance(ward, Ward)
        # identity.identity_key, spelt out: fold() is idempotent, so the folded name
        # gives the same key as the name (tests hold the two equal).
        if phone:
            key = f"p|{name_folded}|{born}|{phone}"
        else:
            key = f"w|{name_folded}|{born}|{ward.id}|{household_key}"[:220]
        duplicate = self._in_file(row_no, key, national_id)
        if duplicate is not None:
            return [duplicate]
        public_id, qr_token, code = self._ids.next()
        return (
            f"{row_no}\t{ward.copy_prefix}\t{public_id}\t{qr_token}\t{code}\t"
            # Names hold only letters, spaces and ' - . (clean_name): nothing to escape.
            f"{full_name}\t{name_folded}\t"
            f"{birth_copy}\t{birth_year}\t{sex}\t"
            f"{phone}\t{national_id or _NULL}\t{copy_text(address)}\t"
            f"{copy_text(household_key)}\t{'t' if is_head else 'f'}\t{copy_text(key)}\n"
        )

    def _error(self, field_key: str, code: str, **params: Any) -> RowError:
        message = str(ROW_MESSAGES[code])
        if params:
            message = message % params
        return RowError(field_key, code, message)

    def _name(self, raw: Cell) -> tuple[str, str] | None:
        """(identity.clean_name(raw), its folded key) built from cached words, or None
        when the name needs the full rules (it is invalid, empty, too long, or not text).

        The same result as clean_name: the name's NFC form is split on white space
        (clean_name collapses it to single spaces), each word is checked and
        capitalised as clean_name's patterns do for a whole name (a word may end in
        "." only if it is the last), and neither NFC nor the patterns ever act across
        a space.
        """
        if raw.__class__ is not str:
            return None
        words = unicodedata.normalize("NFC", raw).split()
        if not words:
            return None
        cache = self._words
        last = len(words) - 1
        length = last
        cleaned = []
        folded = []
        for index, word in enumerate(words):
            entry = cache.get(word)
            if entry is None:
                entry = _name_word(word)
                if len(cache) < 200_000:
                    cache[word] = entry
            if not entry[1 if index == last else 0]:
                return None
            length += len(word)
            cleaned.append(entry[2])
            folded.append(entry[3])
        if length > identity.MAX_NAME_LENGTH:
            return None
        return " ".join(cleaned), " ".join(folded)

    def _fold_name(self, name: str) -> str:
        """fold(name), syllable by syllable (a cleaned name has single spaces), cached:
        Vietnamese names are drawn from a few thousand syllables."""
        syllables = self._syllables
        parts = []
        for word in name.split(" "):
            folded = syllables.get(word)
            if folded is None:
                folded = fold(word)
                if len(syllables) < 100_000:
                    syllables[word] = folded
            parts.append(folded)
        return " ".join(parts)

    def _clean_text(self, raw: Cell) -> str:
        """normalize_text of a free-text cell, cached (addresses repeat in households)."""
        text = _text(raw)
        if text.isascii() and text.isalnum():  # "12", "A3": already clean
            return text
        cached = self._text_cache.get(text)
        if cached is None:
            cached = normalize_text(text)
            if len(self._text_cache) >= 50_000:
                self._text_cache.clear()
            self._text_cache[text] = cached
        return cached

    def _sex(self, raw: Cell) -> str | None:
        cache_key = (raw.__class__, raw)
        if cache_key in self._sex_cache:
            return self._sex_cache[cache_key]
        sex = SEX_VALUES.get(fold(_text(raw))) if raw != "" else None
        if len(self._sex_cache) < 1000:
            self._sex_cache[cache_key] = sex
        return sex

    def _head(self, raw: Cell) -> bool | None:
        """True, False, or None when the cell is neither a mark nor empty."""
        cache_key = (raw.__class__, raw)
        if cache_key in self._head_cache:
            return self._head_cache[cache_key]
        folded = fold(_text(raw))
        head: bool | None = None
        if folded in HEAD_TRUE:
            head = True
        elif folded in HEAD_FALSE or self.head_lenient:
            head = False
        if len(self._head_cache) < 1000:
            self._head_cache[cache_key] = head
        return head

    def _birth(self, raw: Cell) -> Birth | ValidationError:
        """(date or None, year, as in the identity key, as in the staging line)."""
        cache_key = (raw.__class__, raw)
        cached = self._birth_cache.get(cache_key)
        if cached is None:
            try:
                date, year = identity.clean_birth(raw, today=self.today)
                iso = date.isoformat() if date else ""
                cached = (date, year, iso or str(year), iso or _NULL)
            except ValidationError as exc:
                cached = exc
            except (TypeError, ValueError, OverflowError):
                cached = ValidationError(
                    _("Write the date of birth as dd/mm/yyyy, or the year alone."), code="format"
                )
            if len(self._birth_cache) < 200_000:
                self._birth_cache[cache_key] = cached
        return cached

    def _ward(self, raw: Cell) -> Ward | RowError:
        cache_key = (raw.__class__, raw)
        cached = self._ward_cache.get(cache_key)
        if cached is None:
            cached = self._resolve_ward(raw)
            if len(self._ward_cache) < 50_000:
                self._ward_cache[cache_key] = cached
        return cached

    def _resolve_ward(self, raw: Cell) -> Ward | RowError:
        place_name = self.place.name
        if raw == "":
            if self.single_ward:
                ward = self._wards_by_code.get(self.place.code)
                if ward is not None:
                    return ward
            return self._error("ward", "ward_required")
        text = _text(raw).strip()
        ward = self._wards_by_code.get(text) or self._wards_by_code.get(text.zfill(5))
        if ward is not None:
            return ward
        matches = self._wards_by_name.get(fold(text), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            return self._error("ward", "ward_ambiguous", place=place_name)
        return self._error("ward", "ward_unknown", place=place_name)

    def _in_file(self, row_no: int, key: str, national_id: str | None) -> RowError | None:
        """Duplicate detection inside the file; the first occurrence wins."""
        key_hash = hash(key)
        cccd = int(national_id) if national_id else 0
        earlier = self.by_identity.get(key_hash)
        if earlier is not None:
            earlier_row, earlier_cccd = earlier >> 40, earlier & _MASK40
            if cccd and earlier_cccd and cccd != earlier_cccd:
                return self._error("national_id", "cccd_differs_in_file", row=earlier_row)
            return self._error("full_name", "duplicate_in_file", row=earlier_row)
        if cccd:
            holder = self.by_cccd.get(cccd)
            if holder is not None:
                return self._error("national_id", "cccd_in_file", row=holder)
            self.by_cccd[cccd] = row_no
        self.by_identity[key_hash] = (row_no << 40) | cccd
        return None


_MASK40 = (1 << 40) - 1


def _code(exc: ValidationError) -> str:
    return str(getattr(exc, "code", None) or "invalid")


def _message(exc: ValidationError) -> str:
    return str(exc.messages[0]) if exc.messages else str(_("This value is not valid."))


def _text(cell: Cell) -> str:
    """A cell as text; whole numbers Excel stored as floats lose their ".0"."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _display(cell: Cell) -> str:
    """A cell as the user would read it (for headers and the failing-rows report)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, dt.datetime):
        if cell.time() == dt.time(0):
            return cell.strftime("%d/%m/%Y")
        return cell.strftime("%d/%m/%Y %H:%M")
    if isinstance(cell, dt.date):
        return cell.strftime("%d/%m/%Y")
    return str(cell)


class IdSource:
    """Identifiers for new people, drawn in bulk from the OS's random source.

    Same formats and distributions as the model defaults: `public_id` as
    `new_public_id` (128 bits, URL-safe base64: 21 characters of 6 bits and one of 2),
    `qr_token` as `codes.new_qr_token` (128 bits, base32: 25 characters of 5 bits and
    one of 3) and `code` as `codes.new_person_code`. Calling those per row costs
    ~15 µs, a quarter of the budget of a million-row import. Codes may collide
    (22^7 values); the commit draws those again.
    """

    BATCH = 4096

    def __init__(self) -> None:
        self._ids: list[tuple[str, str, str]] = []

    def next(self) -> tuple[str, str, str]:
        if not self._ids:
            self._ids = self._draw(self.BATCH)
        return self._ids.pop()

    @staticmethod
    def _draw(count: int) -> list[tuple[str, str, str]]:
        urandom = os.urandom
        b64_body = urandom(21 * count).translate(_B64_TABLE).decode("ascii")
        b64_last = urandom(count).translate(_B64_LAST).decode("ascii")
        b32_body = urandom(25 * count).translate(_B32_TABLE).decode("ascii")
        b32_last = urandom(count).translate(_B32_LAST).decode("ascii")
        codes = new_codes(count)
        return [
            (
                b64_body[21 * i : 21 * i + 21] + b64_last[i],
                b32_body[25 * i : 25 * i + 25] + b32_last[i],
                codes[i],
            )
            for i in range(count)
        ]


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B64_TABLE = bytes(_B64[b & 63] for b in range(256))
_B64_LAST = bytes(_B64[(b & 3) << 4] for b in range(256))  # 2 bits, then 4 zero bits
_B32_TABLE = bytes(_B32[b & 31] for b in range(256))
_B32_LAST = bytes(_B32[(b & 7) << 2] for b in range(256))  # 3 bits, then 2 zero bits


_CODE_BASE = len(CODE_ALPHABET)
_CODE_LIMIT = 256 - 256 % _CODE_BASE  # unbiased: bytes at or above are dropped
_CODE_TABLE = bytes(
    ord(CODE_ALPHABET[b % _CODE_BASE]) if b < _CODE_LIMIT else 0 for b in range(256)
)
_CODE_DROP = bytes(range(_CODE_LIMIT, 256))
_CODE_POSITION = bytes(CODE_ALPHABET.find(chr(b)) % 256 for b in range(256))


def new_codes(count: int) -> list[str]:
    """`count` person codes in the format of `codes.new_person_code`."""
    need = count * CODE_RANDOM_LENGTH
    letters = b""
    while len(letters) < need:
        letters += os.urandom(need + need // 8 + 16).translate(_CODE_TABLE, _CODE_DROP)
    letters = letters[:need]
    # code_check_char over the whole batch: the letters' positions in the alphabet,
    # weighted 1..7 per code.
    positions = letters.translate(_CODE_POSITION)
    weights = range(1, CODE_RANDOM_LENGTH + 1)
    text = letters.decode("ascii")
    return [
        text[i : i + CODE_RANDOM_LENGTH]
        + CODE_ALPHABET[
            sum(map(operator.mul, weights, positions[i : i + CODE_RANDOM_LENGTH])) % _CODE_BASE
        ]
        for i in range(0, need, CODE_RANDOM_LENGTH)
    ]


# --- Side files --------------------------------------------------------------------

STAGE_COLUMNS = (
    ("row_no", "integer"),
    ("ward_id", "bigint"),
    ("province_code", "varchar(4)"),
    ("public_id", "varchar(32)"),
    ("qr_token", "varchar(26)"),
    ("code", "varchar(8)"),
    ("full_name", "varchar(150)"),
    ("name_folded", "varchar(150)"),
    ("birth_date", "date"),
    ("birth_year", "integer"),
    ("sex", "varchar(1)"),
    ("phone", "varchar(16)"),
    ("national_id", "varchar(12)"),
    ("address", "varchar(300)"),
    ("household_key", "varchar(40)"),
    ("is_head", "boolean"),
    ("identity_key", "varchar(220)"),
)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_NULL = "\\N"


def copy_text(value: str) -> str:
    """A text value escaped for COPY (isprintable() is False for tabs and line breaks)."""
    if "\\" in value or not value.isprintable():
        return value.translate(_ESCAPES)
    return value


_UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
_ESCAPED = re.compile(r"\\[\\tnr]")


def parse_copy_line(line: str) -> list[Any]:
    """A staging line split back into values (for SQLite, which has no COPY)."""
    values: list[Any] = []
    for part in line.rstrip("\n").split("\t"):
        if part == "\\N":
            values.append(None)
        elif "\\" in part:
            values.append(_ESCAPED.sub(lambda m: _UNESCAPES[m[0]], part))
        else:
            values.append(part)
    return values


def _folder(imp: PeopleImport) -> Path:
    return import_dir() / str(imp.public_id)


def upload_path(imp: PeopleImport) -> Path:
    return import_dir() / imp.file_path


def valid_rows_path(imp: PeopleImport) -> Path:
    return _folder(imp) / "valid-rows.copy"


def failing_rows_path(imp: PeopleImport) -> Path:
    return _folder(imp) / "failing-rows.jsonl"


def _open_private(path: Path, mode: str = "w") -> IO[Any]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8", newline="\n")


# --- Preview -----------------------------------------------------------------------


@dataclass
class ImportPreview:
    """What a dry run found: counts, the first errors and notes, for the preview page."""

    import_id: str
    status: str
    mode: str
    rows_total: int
    rows_valid: int
    rows_invalid: int
    rows_duplicate_in_file: int
    errors: list[dict[str, Any]]
    errors_total: int
    error_counts: dict[str, dict[str, int]]
    problem: str
    notes: list[str]
    file_info: dict[str, Any] = field(default_factory=dict)

    @property
    def can_commit(self) -> bool:
        """True when committing would write something (in the chosen mode)."""
        if self.status != ImportStatus.VALIDATED or self.problem:
            return False
        if self.mode == ImportMode.ALL_OR_NOTHING and self.rows_invalid:
            return False
        return self.rows_valid > 0

    @property
    def has_failing_rows(self) -> bool:
        return bool(self.rows_invalid or self.rows_duplicate_in_file)


def preview_of(imp: PeopleImport) -> ImportPreview:
    """The preview of an import from what its last validation recorded."""
    summary = imp.error_summary or {}
    problem = summary.get("file", {}).get("message", "") if summary.get("file") else ""
    return ImportPreview(
        import_id=str(imp.public_id),
        status=imp.status,
        mode=imp.mode,
        rows_total=imp.rows_total,
        rows_valid=imp.rows_valid,
        rows_invalid=imp.rows_invalid,
        rows_duplicate_in_file=imp.rows_duplicate_in_file,
        errors=list(imp.errors or []),
        errors_total=int(summary.get("errors_total", 0)),
        error_counts=dict(summary.get("by_column", {})),
        problem=problem or (imp.failure if imp.status == ImportStatus.FAILED else ""),
        notes=list(summary.get("notes", [])),
        file_info=dict(imp.file_info or {}),
    )


# --- Services ----------------------------------------------------------------------


class Uploaded(Protocol):
    """What Django's UploadedFile offers and `create_import` uses."""

    def chunks(self, chunk_size: int | None = ...) -> Iterator[bytes]: ...


def create_import(
    *,
    by: Any,
    place: Place,
    uploaded_file_or_path: Uploaded | str | Path,
    filename: str,
    mode: str = ImportMode.VALID_ROWS,
    as_system: bool = False,
    size_limit: int | None = None,
) -> PeopleImport:
    """Store an uploaded list for importing into `place`; nothing is read yet.

    Raises PermissionDenied unless `by` may import people into `place` (the command
    line passes `as_system=True` instead: its operator already holds the database),
    and ImportRejected for a file over the size limit (`size_limit`, by default
    `PEOPLE_IMPORT_MAX_BYTES`), an empty one, or a place that is not a ward or above.
    """
    if not as_system and not has_permission(by, Permission.IMPORT_PEOPLE, place):
        raise PermissionDenied
    if mode not in ImportMode.values:
        raise ImportRejected(_("Choose how to import: the valid rows, or all or nothing."))
    if place.level == Level.HAMLET or place.system != System.CURRENT:
        raise ImportRejected(_("Choose a current ward, or a place above wards."))
    imp = PeopleImport(
        uploaded_by=by if getattr(by, "is_authenticated", False) else None,
        place=place,
        original_name=Path(filename).name[:255] or "upload",
        mode=mode,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    folder = _folder(imp)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / "upload"
    try:
        limit = size_limit if size_limit is not None else max_bytes()
        size, digest, head = _store(uploaded_file_or_path, target, limit)
        if size == 0:
            raise ImportRejected(FILE_MESSAGES["empty_file"])
        try:
            file_format = file_format_of(imp.original_name, head)
        except FileProblem as exc:
            raise ImportRejected(exc.message, code=exc.code) from exc
        final = target.with_name(f"upload.{file_format}")
        target.rename(final)
        imp.file_path = str(final.relative_to(import_dir()))
        imp.file_format = file_format
        imp.size_bytes = size
        imp.sha256 = digest
        with transaction.atomic():
            imp.save()
            audit.record(
                by=by if imp.uploaded_by_id else None,
                action="people_import.uploaded",
                subject=imp,
                province_code=imp.province_code,
                file=imp.original_name,
                size=size,
                sha256=digest,
                place=place.code,
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return imp


def _store(source: Uploaded | str | Path, target: Path, limit: int) -> tuple[int, str, bytes]:
    """Copy the upload to `target` (mode 0600), with its size, SHA-256 and first bytes."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    with _open_private(target, "wb") as out:
        for chunk in _chunks(source):
            size += len(chunk)
            if size > limit:
                raise ImportRejected(
                    _("The file is larger than %(limit)s MB: split it into smaller files."),
                    code="too_big",
                    params={"limit": limit // (1024 * 1024)},
                )
            if len(head) < 8:
                head = (head + chunk)[:8]
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest(), head


def _chunks(source: Uploaded | str | Path) -> Iterator[bytes]:
    if isinstance(source, str | Path):
        with Path(source).open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk
    else:
        yield from source.chunks()


class _Progress:
    """Throttled progress: the import row (for the web page) and a callback (the CLI).

    While the commit's transaction is open, the row is written through a second,
    short-lived connection (`side=True`), so the page sees progress that the
    transaction itself would hide until it commits. On SQLite (one writer at a time)
    only the callback is told.
    """

    def __init__(
        self,
        imp: PeopleImport,
        phase: str,
        callback: ProgressCallback | None,
        *,
        side: bool = False,
    ) -> None:
        self.imp = imp
        self.phase = phase
        self.callback = callback
        self.side = side
        self.last_write = 0.0
        self._side_connection: Any = None
        self.closed = False

    def __call__(self, done: int, total: int, *, force: bool = False) -> None:
        if self.callback is not None:
            self.callback(self.phase, done, total)
        now = time.monotonic()
        if self.closed or not (force or now - self.last_write >= 1.0):
            return
        self.last_write = now
        values = {
            "phase": self.phase,
            "progress_done": min(done, total),
            "progress_total": total,
            "heartbeat_at": timezone.now(),
        }
        if not self.side:
            PeopleImport.objects.filter(pk=self.imp.pk).update(**values)
        elif connection.vendor == "postgresql":
            self._write_aside(values)

    def _write_aside(self, values: dict[str, Any]) -> None:
        table = PeopleImport._meta.db_table
        try:
            if self._side_connection is None:
                self._side_connection = connections.create_connection(DEFAULT_DB_ALIAS)
                # One transaction per write, so that the lock timeout is SET LOCAL: behind
                # pgbouncer in transaction mode a session setting would stay on a server
                # connection that another client gets next (docs/deploy.md).
                self._side_connection.set_autocommit(False)
            with self._side_connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
                cursor.execute(
                    f"UPDATE {table} SET phase = %s, progress_done = %s, progress_total = %s, "  # noqa: S608
                    "heartbeat_at = %s WHERE id = %s",
                    [*values.values(), self.imp.pk],
                )
            self._side_connection.commit()
        except DatabaseError:  # progress is best effort
            log.warning("people import progress not written", extra={"import": self.imp.pk})
            if self._side_connection is not None:
                try:
                    self._side_connection.rollback()
                except DatabaseError:
                    self._side_connection.close()
                    self._side_connection = None

    def close(self) -> None:
        self.closed = True
        if self._side_connection is not None:
            with contextlib.suppress(Exception):
                self._side_connection.close()
            self._side_connection = None


@dataclass
class _ScanResult:
    rows_total: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    rows_duplicate: int = 0
    skipped_examples: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_total: int = 0
    by_column: dict[str, dict[str, int]] = field(default_factory=dict)
    failing_rows_kept: int = 0


def validate_import(
    imp: PeopleImport, *, progress: ProgressCallback | None = None
) -> ImportPreview:
    """The dry run: read and check every row, record counts and errors, write nothing.

    Leaves the import `validated` (or `failed` when the file itself is unusable).
    Queued, running and finished imports are not validated again: their preview is
    returned as recorded.
    """
    imp.refresh_from_db()
    if imp.status not in (ImportStatus.UPLOADED, ImportStatus.VALIDATED, ImportStatus.FAILED):
        return preview_of(imp)
    with translation.override(imp.language or settings.LANGUAGE_CODE):
        _validate(imp, progress)
    return preview_of(imp)


def _validate(imp: PeopleImport, progress: ProgressCallback | None) -> bool:
    """Scan the file into the side files and record the outcome on `imp` (saved);
    False when the file is unusable (the import then failed)."""
    token = secrets.token_hex(16)
    tick = _Progress(imp, ImportPhase.READING, progress)
    try:
        source = open_source(upload_path(imp), imp.file_format)
        with _open_private(valid_rows_path(imp)) as valid_out:
            valid_out.write(token + "\n")
            result = _scan(imp, source, tick, lambda lines: valid_out.write("".join(lines)))
    except FileProblem as exc:
        _fail(imp, str(exc.message), code=exc.code, file_problem=True)
        return False
    except FileNotFoundError:
        _fail(imp, str(_("The uploaded file is missing on the server.")), code="missing")
        return False
    _record_validation(imp, source, result, token)
    imp.save()
    return True


def _record_validation(imp: PeopleImport, source: Source, result: _ScanResult, token: str) -> None:
    """Put what a scan found on `imp` (not saved): counts, errors, notes, file details."""
    notes = [*source.notes]
    if result.skipped_examples:
        notes.append(str(_("The template's example rows were skipped.")))
    earlier = (
        PeopleImport.objects.filter(
            sha256=imp.sha256, place=imp.place, status=ImportStatus.DONE, finished_at__isnull=False
        )
        .exclude(pk=imp.pk)
        .order_by("-finished_at")
        .first()
    )
    if earlier is not None and earlier.finished_at is not None:
        notes.append(
            str(
                _(
                    "This file was already imported on %(date)s; people already "
                    "registered will not be added again."
                )
                % {"date": timezone.localtime(earlier.finished_at).strftime("%d/%m/%Y %H:%M")}
            )
        )
    info = {**source.info, "columns": {k: source.header.label(k) for k in source.header.columns}}
    ignored = [
        normalize_text(cell)
        for i, cell in enumerate(source.header.cells)
        if cell.strip() and not any(i in indices for indices in source.header.columns.values())
    ]
    if ignored:
        info["ignored_columns"] = ignored
    imp.rows_total = result.rows_total
    imp.rows_valid = result.rows_valid
    imp.rows_invalid = result.rows_invalid
    imp.rows_duplicate_in_file = result.rows_duplicate
    imp.people_created = imp.people_matched = 0
    imp.errors = result.errors
    imp.error_summary = {
        "by_column": result.by_column,
        "errors_total": result.errors_total,
        "failing_rows_kept": result.failing_rows_kept,
        "notes": notes,
    }
    imp.file_info = info
    imp.failure = ""
    imp.validation_token = token
    imp.status = ImportStatus.VALIDATED
    imp.validated_at = timezone.now()
    imp.phase = ImportPhase.IDLE
    imp.progress_done = imp.progress_total = 0
    imp.heartbeat_at = timezone.now()


def _scan(
    imp: PeopleImport,
    source: Source,
    tick: _Progress,
    emit: Callable[[list[str]], Any],
) -> _ScanResult:
    """Check every row of `source`: valid rows go, as staging lines (COPY text format),
    to `emit` in batches; failing ones to the failing-rows side file (JSON lines)."""
    header = source.header
    missing = [
        COLUMN_BY_KEY[k].header.rstrip("*") for k in REQUIRED_KEYS if k not in header.columns
    ]
    if missing:
        raise FileProblem(
            "missing_columns",
            _("Required columns are missing: %(columns)s.") % {"columns": ", ".join(missing)},
        )
    if imp.place.level != Level.WARD and "ward" not in header.columns:
        raise FileProblem(
            "ward_column",
            _(
                "This list is imported into %(place)s, which has several wards: add a "
                "“Phường/xã” column with each person's ward."
            )
            % {"place": imp.place.name},
        )
    checker = RowChecker(imp.place, header, timezone.localdate())
    result = _ScanResult()
    row_limit = max_rows()
    errors_limit = max_errors_kept()
    failing_limit = max_failing_rows_kept()
    width = len(header.cells)
    labels = {key: checker.field_label(key) for key in COLUMN_BY_KEY}
    with _open_private(failing_rows_path(imp)) as failing_out:
        failing_out.write(json.dumps({"header": header.cells}, ensure_ascii=False) + "\n")
        pending: list[str] = []
        for row_no, cells in source.rows:
            if row_no <= header.index + 1:
                continue
            values = checker.pick(cells)
            if values.count("") == len(values):
                continue
            noise = checker.noise(values, row_no)
            if noise is not None:
                result.skipped_examples += noise == "example"
                continue
            result.rows_total += 1
            if result.rows_total > row_limit:
                raise FileProblem(
                    "too_many_rows",
                    _("The file has more than %(limit)s rows: split it into smaller files.")
                    % {"limit": f"{row_limit:,}".replace(",", ".")},
                )
            outcome = checker.check(row_no, values)
            if outcome.__class__ is str:
                result.rows_valid += 1
                pending.append(outcome)
                if len(pending) >= 5000:
                    emit(pending)
                    pending = []
            else:
                assert isinstance(outcome, list)
                if outcome[0].code == "duplicate_in_file":
                    result.rows_duplicate += 1
                else:
                    result.rows_invalid += 1
                for error in outcome:
                    column = labels[error.field]
                    counts = result.by_column.setdefault(column, {})
                    counts[error.code] = counts.get(error.code, 0) + 1
                    result.errors_total += 1
                    if len(result.errors) < errors_limit:
                        result.errors.append(
                            {
                                "row": row_no,
                                "column": column,
                                "field": error.field,
                                "code": error.code,
                                "message": error.message,
                            }
                        )
                if result.failing_rows_kept < failing_limit:
                    result.failing_rows_kept += 1
                    shown = [_display(c) for c in cells[: max(width, len(cells))]]
                    text = "; ".join(f"{labels[e.field]}: {e.message}" for e in outcome)
                    failing_out.write(
                        json.dumps(
                            {"row": row_no, "values": shown, "errors": text}, ensure_ascii=False
                        )
                        + "\n"
                    )
            if result.rows_total % PROGRESS_EVERY == 0:
                tick(*source.position())
        if pending:
            emit(pending)
    if result.rows_total == 0:
        raise _problem("no_rows")
    tick(*source.position(), force=True)
    return result


def _fail(
    imp: PeopleImport, reason: str, *, code: str, file_problem: bool = False, by: Any = None
) -> None:
    """Mark the import failed with a reason the user can act on."""
    summary = dict(imp.error_summary or {})
    if file_problem:
        summary = {"file": {"code": code, "message": reason}, "notes": []}
        imp.rows_total = imp.rows_valid = imp.rows_invalid = imp.rows_duplicate_in_file = 0
        imp.errors = []
    summary["failure_code"] = code
    summary.pop("last_error", None)
    imp.error_summary = summary
    imp.status = ImportStatus.FAILED
    imp.failure = reason
    imp.phase = ImportPhase.IDLE
    imp.finished_at = timezone.now()
    imp.people_created = imp.people_matched = 0
    with transaction.atomic():
        imp.save()
        audit.record(
            by=by,
            action="people_import.failed",
            subject=imp,
            province_code=imp.province_code,
            code=code,
        )


def refusal_reason(imp: PeopleImport) -> str | None:
    """Why committing this (validated) import would write nothing on purpose, if so."""
    if imp.mode == ImportMode.ALL_OR_NOTHING and imp.rows_invalid:
        return str(
            _(
                "%(count)s rows have errors and “import only if every row is valid” was "
                "chosen: nothing was imported. Fix the rows and upload the file again."
            )
            % {"count": imp.rows_invalid}
        )
    return None


def queue_import(*, imp: PeopleImport, by: Any, mode: str | None = None) -> PeopleImport:
    """Hand the commit to the background worker (after the transaction commits).

    `mode` may change the choice made at upload. Queuing an import that is already
    queued does nothing; one left 'importing' by a worker that died (no heartbeat for
    `PEOPLE_IMPORT_STALE_SECONDS`) or that failed may be queued again.
    """
    from swabline.people.tasks import run_people_import

    if not has_permission(by, Permission.IMPORT_PEOPLE, imp.place):
        raise PermissionDenied
    with transaction.atomic():
        locked = PeopleImport.objects.select_for_update().select_related("place").get(pk=imp.pk)
        if locked.status in (ImportStatus.QUEUED, ImportStatus.DONE):
            return locked
        if locked.files_deleted_at is not None:
            raise ImportRejected(
                _("The file of this import was deleted after the keeping time: upload it again."),
                code="files_deleted",
            )
        if locked.status == ImportStatus.IMPORTING:
            beat = locked.heartbeat_at or locked.started_at
            if beat is not None and timezone.now() - beat < stale_after():
                return locked
        if mode is not None:
            if mode not in ImportMode.values:
                raise ImportRejected(_("Choose how to import: the valid rows, or all or nothing."))
            locked.mode = mode
        if locked.status == ImportStatus.VALIDATED:
            reason = refusal_reason(locked)
            if reason:
                raise ImportRejected(reason, code="refused")
        if locked.status == ImportStatus.FAILED and (locked.error_summary or {}).get("file"):
            raise ImportRejected(locked.failure, code="file")
        locked.status = ImportStatus.QUEUED
        locked.committed_by = by if getattr(by, "is_authenticated", False) else None
        locked.queued_at = timezone.now()
        locked.failure = ""
        locked.save()
        audit.record(
            by=by,
            action="people_import.queued",
            subject=locked,
            province_code=locked.province_code,
            mode=locked.mode,
        )
        import_id = str(locked.public_id)
        transaction.on_commit(lambda: run_people_import.enqueue(import_id))
    return locked


def commit_import(imp: PeopleImport, *, progress: ProgressCallback | None = None) -> PeopleImport:
    """Write the import's valid rows as people: all of them in one transaction, or none.

    If the import was validated here, its cleaned rows are read back from the side
    file; otherwise (a queued upload, the command line, another machine) the file is
    checked and written in one pass (in mode all_or_nothing it is checked first).
    Either way the rows go, in chunks, through a temporary staging table (COPY on
    PostgreSQL) into `people_person` with a set-based INSERT…SELECT, while the next
    chunk is being prepared; everything, including the import's final status, is one
    transaction.

    Idempotent: a finished import is left alone, and a run interrupted at any point
    (a killed worker, a lost connection) leaves nothing and can simply be run again.
    In mode all_or_nothing a single invalid row fails the import, writing nothing.
    Returns the import, refreshed.
    """
    imp.refresh_from_db()
    if imp.status == ImportStatus.DONE:
        return imp
    if imp.status == ImportStatus.FAILED:
        raise ImportRejected(imp.failure or _("This import failed."), code="failed")
    with translation.override(imp.language or settings.LANGUAGE_CODE):
        rows_file = valid_rows_path(imp)
        validated = imp.status != ImportStatus.UPLOADED and _side_file_matches(imp, rows_file)
        if not validated and imp.mode == ImportMode.ALL_OR_NOTHING:
            if not _validate(imp, progress):
                return imp
            validated = True
        if validated:
            reason = refusal_reason(imp)
            if reason:
                _fail(imp, reason, code="invalid_rows")
                return imp
        phase = ImportPhase.WRITING if validated else ImportPhase.READING
        PeopleImport.objects.filter(pk=imp.pk).update(
            status=ImportStatus.IMPORTING,
            attempts=imp.attempts + 1,
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
            phase=phase,
        )
        imp.refresh_from_db()
        tick = _Progress(imp, phase, progress, side=True)
        try:
            with transaction.atomic():
                if not _lock_import(imp):
                    imp.refresh_from_db()
                    return imp  # a concurrent run finished it
                with _Merger() as merger:
                    if validated:
                        for lines in _side_file_batches(rows_file, imp.validation_token):
                            merger.add(lines)
                            tick(merger.staged, imp.rows_valid)
                        staged = merger.finish()
                        if staged != imp.rows_valid:
                            raise RuntimeError(f"staged {staged} rows, validated {imp.rows_valid}")
                    else:
                        source = open_source(upload_path(imp), imp.file_format)
                        result = _scan(imp, source, tick, merger.add)
                        staged = merger.finish()
                        _record_validation(imp, source, result, "")
                tick.close()  # no progress writes past this point: the row is ours now
                _finish(imp, staged=staged, created=merger.created)
                transaction.on_commit(lambda: rows_file.unlink(missing_ok=True))
        except FileProblem as exc:
            tick.close()
            _fail(imp, str(exc.message), code=exc.code, file_problem=True)
            return imp
        except BaseException as exc:
            tick.close()
            _note_error(imp, exc)
            raise
        finally:
            tick.close()
    if progress is not None:
        progress(ImportPhase.WRITING, staged, staged)
    imp.refresh_from_db()
    return imp


def _lock_import(imp: PeopleImport) -> bool:
    """Serialise runs of one import (a retry racing a slow worker); False if done.

    An advisory lock rather than a row lock, so that progress can still be written
    to the import's row from the side connection while the transaction is open.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_SPACE, imp.pk])
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # Chunk statements are many and short: compiling each costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
            # The planner's idea of people_person is its size when the transaction
            # began (empty, on a new database) while the import grows it by up to a
            # million rows: a scan of it "costing nothing" would run once per staged
            # row (384 s for the second 50,000 rows). Its unique indexes serve every
            # lookup the merge makes.
            cursor.execute("SET LOCAL enable_seqscan = off")
    status = PeopleImport.objects.filter(pk=imp.pk).values_list("status", flat=True).first()
    return status != ImportStatus.DONE


def _finish(imp: PeopleImport, *, staged: int, created: int) -> None:
    """The import's final state and audit event, inside the commit's transaction."""
    summary = dict(imp.error_summary or {})
    summary.pop("last_error", None)
    imp.error_summary = summary
    imp.status = ImportStatus.DONE
    imp.people_created = created
    imp.people_matched = staged - created
    imp.phase = ImportPhase.IDLE
    imp.progress_done = imp.progress_total = staged
    imp.finished_at = imp.heartbeat_at = timezone.now()
    imp.failure = ""
    imp.save()
    audit.record(
        by=imp.committed_by or imp.uploaded_by,
        action="people_import.committed",
        subject=imp,
        province_code=imp.province_code,
        created=created,
        matched=staged - created,
        invalid=imp.rows_invalid,
        duplicate_in_file=imp.rows_duplicate_in_file,
        mode=imp.mode,
    )


def _side_file_batches(path: Path, token: str) -> Iterator[list[str]]:
    with path.open("r", encoding="utf-8") as handle:
        if handle.readline().rstrip("\n") != token:
            raise RuntimeError("the cleaned rows do not belong to this validation")
        while lines := handle.readlines(2 * 1024 * 1024):
            yield lines


def _note_error(imp: PeopleImport, exc: BaseException) -> None:
    """Record the last error of a failed attempt (outside its rolled-back transaction)."""
    if transaction.get_connection().in_atomic_block and transaction.get_rollback():
        return
    with contextlib.suppress(Exception):
        summary = dict(
            PeopleImport.objects.filter(pk=imp.pk).values_list("error_summary", flat=True).first()
            or {}
        )
        summary["last_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        PeopleImport.objects.filter(pk=imp.pk).update(
            error_summary=summary, phase=ImportPhase.IDLE, heartbeat_at=timezone.now()
        )


def mark_failed(imp: PeopleImport, reason: str) -> None:
    """Give up on an import (the worker's last attempt failed)."""
    imp.refresh_from_db()
    if imp.status == ImportStatus.DONE:
        return
    _fail(imp, reason, code="gave_up")


def _side_file_matches(imp: PeopleImport, path: Path) -> bool:
    if not imp.validation_token:
        return False
    try:
        with path.open("r", encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == imp.validation_token
    except OSError:
        return False


# --- Staging and merging -----------------------------------------------------------

STAGE_TABLE = "people_import_stage"
FIX_TABLE = "people_import_code_fix"
ADVISORY_LOCK_SPACE = 7_114_501  # pg_advisory_xact_lock(space, import id)
CHUNK_ROWS = 50_000

# Runs the fast statement in a savepoint, and the safe one if the fast one hits a
# unique violation; returns the rowcount.
Execute = Callable[[str, str, list[Any]], int]


class _Merger:
    """Writes staging lines in chunks, inside the caller's transaction.

    Each chunk is loaded into a temporary staging table (COPY on PostgreSQL,
    executemany elsewhere), its person codes are checked for collisions, and
    `write_people` merges it. On PostgreSQL all three run on a helper thread
    over the same connection (psycopg serialises use of a connection, and releases
    the GIL while the server works), so the server stages and writes chunk n while
    Python checks the rows of chunk n+1; nothing else touches the connection until
    the chunk is merged.
    """

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.buffer: list[str] = []
        self.staged = 0
        self.created = 0
        self._pending: Future[int] | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Built once, here on the caller's thread: every chunk shares one created_at.
        self.statements = insert_statements()

    def __enter__(self) -> _Merger:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
            columns = ", ".join(f"{name} {kind}" for name, kind in STAGE_COLUMNS)
            cursor.execute(f"CREATE TEMPORARY TABLE {STAGE_TABLE} ({columns})")
        if self.postgres:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="people-import")
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._wait()
        except Exception:
            if exc_info[0] is None:
                raise
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
                cursor.execute(f"DROP TABLE IF EXISTS {FIX_TABLE}")

    def add(self, lines: list[str]) -> None:
        self.buffer.extend(lines)
        while len(self.buffer) >= CHUNK_ROWS:
            chunk, self.buffer = self.buffer[:CHUNK_ROWS], self.buffer[CHUNK_ROWS:]
            self._flush(chunk)

    def finish(self) -> int:
        """Write what is left and wait for the last INSERT; the number of rows staged."""
        if self.buffer:
            chunk, self.buffer = self.buffer, []
            self._flush(chunk)
        self._wait()
        return self.staged

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.created += pending.result()

    def _flush(self, lines: list[str]) -> None:
        self._wait()  # the connection is free again
        self.staged += len(lines)
        if self._executor is not None:
            self._pending = self._executor.submit(
                _merge_chunk, connection.connection, lines, self.statements
            )
            return
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {STAGE_TABLE}")  # noqa: S608
            columns = ", ".join(name for name, _kind in STAGE_COLUMNS)
            marks = ", ".join(["%s"] * len(STAGE_COLUMNS))
            rows = []
            for line in lines:
                values = parse_copy_line(line)
                values[15] = values[15] == "t"
                rows.append(values)
            cursor.executemany(
                f"INSERT INTO {STAGE_TABLE} ({columns}) VALUES ({marks})",  # noqa: S608
                rows,
            )
        fix_code_collisions()
        self.created += write_people(_django_executor, self.statements)


def _merge_chunk(raw_connection: Any, lines: list[str], statements: Statements) -> int:
    """On the merge thread (PostgreSQL): COPY a chunk into the staging table, draw
    again its colliding codes and merge it; returns how many people were created.
    Runs on the psycopg connection itself, inside the transaction Django opened."""
    columns = ", ".join(name for name, _kind in STAGE_COLUMNS)
    with raw_connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {STAGE_TABLE}")
        with cursor.copy(f"COPY {STAGE_TABLE} ({columns}) FROM STDIN") as copy:
            for start in range(0, len(lines), 5000):
                copy.write("".join(lines[start : start + 5000]))
        fix_code_collisions(cursor)
    return write_people(_raw_executor(raw_connection), statements)


def _django_executor(fast: str, safe: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(fast, params)
        except IntegrityError:
            cursor.execute(safe, params)
        return int(cursor.rowcount)


def _raw_executor(raw_connection: Any) -> Execute:
    """Runs SQL on the psycopg connection itself (from the helper thread), inside
    the transaction Django opened on it."""
    import psycopg

    def execute(fast: str, safe: str, params: list[Any]) -> int:
        with raw_connection.cursor() as cursor:
            cursor.execute("SAVEPOINT people_import_chunk")
            try:
                cursor.execute(fast, params)
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT people_import_chunk")
                cursor.execute(safe, params)
            rowcount = int(cursor.rowcount)
            cursor.execute("RELEASE SAVEPOINT people_import_chunk")
            return rowcount

    return execute


def fix_code_collisions(cursor: Any = None) -> int:
    """Draw again the person codes of staged rows that collide with each other or with
    existing people (23^7 codes: a million rows bring a few hundred collisions).

    `cursor`: a DB-API cursor on the import's connection (the merge thread passes a
    psycopg one); by default, Django's.
    """
    if cursor is None:
        with connection.cursor() as django_cursor:
            return fix_code_collisions(django_cursor)
    fixed = 0
    for _attempt in range(10):
        cursor.execute(
            # A scalar subquery, not EXISTS: one index probe per staged row, where
            # a semi-join would scan the whole (growing) people table per chunk. The
            # probes go in code order, so they walk the index once instead of
            # jumping around it (it outgrows shared buffers past ~1M people).
            f"SELECT s.row_no FROM (SELECT row_no, code FROM {STAGE_TABLE} "  # noqa: S608
            f"ORDER BY code) s WHERE (SELECT 1 FROM "
            f"{Person._meta.db_table} p WHERE p.code = s.code LIMIT 1) IS NOT NULL "
            f"UNION SELECT s.row_no FROM {STAGE_TABLE} s JOIN "
            f"(SELECT code, MIN(row_no) AS first_row FROM {STAGE_TABLE} "
            f"GROUP BY code HAVING COUNT(*) > 1) d "
            f"ON d.code = s.code AND s.row_no <> d.first_row"
        )
        rows = [row[0] for row in cursor.fetchall()]
        if not rows:
            return fixed
        cursor.execute(f"DROP TABLE IF EXISTS {FIX_TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {FIX_TABLE} (row_no integer, code varchar(8))")
        cursor.executemany(
            f"INSERT INTO {FIX_TABLE} (row_no, code) VALUES (%s, %s)",  # noqa: S608
            list(zip(rows, new_codes(len(rows)), strict=True)),
        )
        cursor.execute(
            f"UPDATE {STAGE_TABLE} SET code = f.code FROM {FIX_TABLE} f "  # noqa: S608
            f"WHERE {STAGE_TABLE}.row_no = f.row_no"
        )
        fixed += len(rows)
    raise RuntimeError("person codes kept colliding")


Statements = tuple[str, str, list[Any]]  # fast SQL, safe SQL, parameters


def write_people(execute: Execute, statements: Statements | None = None) -> int:
    """Merge the staged chunk: the rows that match no one become people; returns how
    many were created. `statements` come from `insert_statements`."""
    return execute(*(statements or insert_statements()))


def insert_statements() -> Statements:
    """The set-based statements that write a staged chunk into `people_person`.

    A row matches an existing person with its CCCD when the folded name and birth
    year agree (`services._match`), or by identity key. A CCCD already held by
    someone else is kept as `claimed_national_id`.

    The fast statement leaves out identity-key matches with an anti-join; if a
    concurrent registration slips in between (a unique violation), the chunk is
    written again with ON CONFLICT DO NOTHING, which pays per row for speculative
    insertion but waits out concurrent inserts. Any other clash (a CCCD registered
    concurrently) raises, and the retry sorts it out. Columns the import does not
    know get their model default, so a new Person field with a default needs no change.

    Rows go in identity-key order (which is nearly folded-name order): the anti-join
    probes and the inserts into the identity-key and (ward, name) indexes then walk
    those indexes once per chunk instead of touching a random page per row, which
    decides the speed once the indexes outgrow shared buffers (~1M people).
    """
    person = Person._meta
    staged = {
        "province_code": "s.province_code",
        "public_id": "s.public_id",
        "qr_token": "s.qr_token",
        "code": "s.code",
        "full_name": "s.full_name",
        "name_folded": "s.name_folded",
        "birth_date": "s.birth_date",
        "birth_year": "s.birth_year",
        "sex": "s.sex",
        "phone": "s.phone",
        "national_id": "CASE WHEN p.id IS NULL THEN s.national_id ELSE NULL END",
        "claimed_national_id": "CASE WHEN p.id IS NULL THEN '' ELSE s.national_id END",
        "ward_id": "s.ward_id",
        "address": "s.address",
        "household_key": "s.household_key",
        "is_household_head": "s.is_head",
        "identity_key": "s.identity_key",
        "merged_into_id": "NULL",
    }
    now = timezone.now()
    columns: list[str] = []
    expressions: list[str] = []
    params: list[Any] = []
    for model_field in person.concrete_fields:
        if model_field.primary_key:
            continue
        column = str(model_field.column)
        columns.append(connection.ops.quote_name(column))
        if column in staged:
            expressions.append(staged[column])
        elif column == "source":
            expressions.append("%s")
            params.append(DeclarationSource.IMPORT.value)
        elif column in ("created_at", "updated_at"):
            expressions.append("%s")
            params.append(model_field.get_db_prep_save(now, connection))
        elif model_field.default is not NOT_PROVIDED or model_field.null:
            expressions.append("%s")
            params.append(model_field.get_db_prep_save(model_field.get_default(), connection))
        else:
            raise ImproperlyConfigured(
                f"Person.{model_field.name} has no default: teach the import to fill it."
            )
    table = person.db_table
    # LATERAL … LIMIT 1 (and the scalar subquery below) rather than joins: one index
    # probe per staged row, whatever the planner believes about the size of the table
    # (it is planned as it was when the transaction began, and grows meanwhile).
    # SQLite has no LATERAL; it probes the index of a plain join anyway.
    holder = (
        f"LEFT JOIN LATERAL (SELECT c.id, c.name_folded, c.birth_year FROM {table} c "  # noqa: S608
        f"WHERE c.national_id = s.national_id LIMIT 1) p ON true"
        if connection.vendor == "postgresql"
        else f"LEFT JOIN {table} p ON p.national_id = s.national_id"
    )
    select = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(expressions)} "
        f"FROM (SELECT * FROM {STAGE_TABLE} ORDER BY identity_key) s {holder} "
        f"WHERE (p.id IS NULL OR p.name_folded <> s.name_folded OR p.birth_year <> s.birth_year)"
    )
    fast = (
        f"{select} AND (SELECT 1 FROM {table} q "  # noqa: S608
        f"WHERE q.identity_key = s.identity_key LIMIT 1) IS NULL ORDER BY s.identity_key"
    )
    safe = f"{select} ORDER BY s.identity_key ON CONFLICT (identity_key) DO NOTHING"
    return fast, safe, params


# --- Reports -----------------------------------------------------------------------


def failing_rows_xlsx(imp: PeopleImport) -> bytes:
    """The rows that were not imported, with their original cells and an error column
    ("Lỗi"), as an XLSX the volunteer can fix and upload again (extra columns are
    ignored on upload). Every cell is a text cell: nothing becomes a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Dòng lỗi")
    path = failing_rows_path(imp)
    header: list[str] = []
    width = 0
    if path.exists():  # first pass: the widest row (rows may be longer than the header)
        with path.open("r", encoding="utf-8") as handle:
            first = handle.readline()
            header = list(json.loads(first).get("header", [])) if first else []
            width = max([len(header), *(len(json.loads(line)["values"]) for line in handle)])
    header = header + [""] * (width - len(header))
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="FDE2E1")
    wrap = Alignment(wrap_text=True, vertical="top")

    def text_cell(value: str, *, head: bool = False, error: bool = False) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=None)
        cell.value = value
        cell.data_type = "s"  # forced text: "=..." stays text
        if head:
            cell.font = bold
        if error:
            cell.fill = fill
            cell.alignment = wrap
        return cell

    sheet.column_dimensions["A"].width = 7
    for offset in range(width):
        letter = _column_letter(offset + 2)
        sheet.column_dimensions[letter].width = 18
    sheet.column_dimensions[_column_letter(width + 2)].width = 60
    sheet.freeze_panes = "B2"
    sheet.append(
        [
            text_cell("Dòng", head=True),
            *(text_cell(h, head=True) for h in header),
            text_cell("Lỗi", head=True),
        ]
    )
    written = 0
    if path.exists():
        with path.open("r", encoding="utf-8") as handle:
            handle.readline()
            for line in handle:
                row = json.loads(line)
                values = list(row["values"]) + [""] * (width - len(row["values"]))
                sheet.append(
                    [
                        text_cell(str(row["row"])),
                        *(text_cell(v) for v in values[:width]),
                        text_cell(row["errors"], error=True),
                    ]
                )
                written += 1
    if not written and imp.failure:
        sheet.append([text_cell(""), *(text_cell("") for _ in header), text_cell(imp.failure)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index))


TEMPLATE_INSTRUCTIONS = (
    "Hướng dẫn nhập danh sách người được lấy mẫu",
    "",
    "1. Ghi mỗi người một dòng trong trang “Danh sách”, bắt đầu từ dòng 2. "
    "Không đổi tên các cột ở dòng 1; có thể thêm cột khác (ví dụ STT), cột lạ được bỏ qua.",
    "2. Các cột có dấu * là bắt buộc: Họ và tên; Ngày sinh (dd/mm/yyyy, ví dụ 15/08/1961) "
    "hoặc chỉ năm sinh (ví dụ 1975); Giới tính (Nam, Nữ hoặc Khác).",
    "3. Số điện thoại: số di động Việt Nam, ví dụ 0912345678. CCCD: đủ 12 chữ số. Hai cột "
    "này đã được định dạng Văn bản (Text) để Excel không làm mất số 0 ở đầu.",
    "4. Phường/xã: mã hoặc tên phường/xã. Để trống nếu cả danh sách thuộc phường/xã đang nhập.",
    "5. Mã hộ: số thứ tự của hộ gia đình trong danh sách; những người cùng hộ ghi cùng "
    "một mã. Chủ hộ: ghi “x” ở dòng của chủ hộ.",
    "6. Hai dòng ví dụ (Nguyễn Văn An, Trần Thị Bích) được bỏ qua khi nhập; có thể xoá.",
    "7. Lưu tệp dạng Excel (.xlsx) hoặc “CSV UTF-8”. Tệp tối đa {mb} MB và {rows} dòng.",
    "8. Trước khi nhập, hệ thống kiểm tra từng dòng và cho tải về các dòng lỗi kèm cột "
    "“Lỗi”. Sửa các dòng đó rồi tải lên lại: người đã có trong hệ thống không bị nhập trùng.",
)
TEMPLATE_COLUMN_NOTES = {
    "full_name": ("Có", "Họ, tên đệm và tên", "Nguyễn Văn An"),
    "birth": ("Có", "dd/mm/yyyy, hoặc chỉ năm sinh", "15/08/1961"),
    "sex": ("Có", "Nam, Nữ hoặc Khác", "Nam"),
    "phone": ("Không", "Số di động, 10 chữ số", "0912345678"),
    "national_id": ("Không", "Số CCCD, 12 chữ số", "079061012345"),
    "ward": ("Không*", "Mã hoặc tên phường/xã (*bắt buộc khi nhập cho cả tỉnh)", "26734"),
    "address": ("Không", "Số nhà, đường, khu phố", "12 Lê Lợi"),
    "household": ("Không", "Số thứ tự hộ trong danh sách", "1"),
    "head": ("Không", "“x” nếu là chủ hộ", "x"),
}


def template_xlsx() -> bytes:
    """The import template: a "Danh sách" sheet with the Vietnamese headers, two example
    rows (skipped on import) and text-formatted phone/CCCD/household columns, and a
    "Hướng dẫn" sheet with instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Danh sách"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    grey = Font(italic=True, color="808080")
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        letter = _column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.text_format:
            sheet.column_dimensions[letter].number_format = "@"
    for row_index, example in enumerate(EXAMPLE_ROWS, start=2):
        for index, value in enumerate(example, start=1):
            cell = sheet.cell(row=row_index, column=index)
            cell.value = value
            cell.data_type = "s"
            cell.number_format = "@"
            cell.font = grey
    # Blank rows below keep the text format on the phone/CCCD/household cells, since
    # Excel applies a column's format only to cells typed after it was set.
    text_columns = [i for i, c in enumerate(COLUMNS, start=1) if c.text_format]
    for row_index in range(len(EXAMPLE_ROWS) + 2, 1002):
        for index in text_columns:
            sheet.cell(row=row_index, column=index).number_format = "@"
    sex_list = DataValidation(type="list", formula1='"Nam,Nữ,Khác"', allow_blank=True)
    sex_list.add(f"{_column_letter(3)}2:{_column_letter(3)}100000")
    sheet.add_data_validation(sex_list)
    sheet.freeze_panes = "A2"
    sheet.row_dimensions[1].height = 32

    guide = workbook.create_sheet("Hướng dẫn")
    guide.column_dimensions["A"].width = 26
    guide.column_dimensions["B"].width = 12
    guide.column_dimensions["C"].width = 52
    guide.column_dimensions["D"].width = 18
    mb = max_bytes() // (1024 * 1024)
    rows = f"{max_rows():,}".replace(",", ".")
    for line in TEMPLATE_INSTRUCTIONS:
        guide.append([line.format(mb=mb, rows=rows)])
    guide["A1"].font = Font(bold=True, size=14)
    guide.append([])
    guide.append(["Cột", "Bắt buộc", "Cách ghi", "Ví dụ"])
    for heading in guide[guide.max_row]:
        heading.font = bold
    for column in COLUMNS:
        required, how, sample = TEMPLATE_COLUMN_NOTES[column.key]
        guide.append([column.header, required, how, sample])
        guide.cell(row=guide.max_row, column=4).data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- Command-line helpers ----------------------------------------------------------


def import_file(
    *,
    path: Path,
    place: Place,
    by: Any = None,
    mode: str = ImportMode.VALID_ROWS,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> PeopleImport:
    """Create, validate and (unless a dry run) commit an import from a file on disk.

    What `manage.py import_people` runs; `by=None` imports as the system.
    """
    imp = create_import(
        by=by,
        place=place,
        uploaded_file_or_path=path,
        filename=path.name,
        mode=mode,
        as_system=by is None,
        size_limit=max_bytes_cli(),
    )
    if dry_run:
        validate_import(imp, progress=progress)
        imp.refresh_from_db()
        return imp
    if by is not None:
        imp.committed_by = by
        imp.save(update_fields=["committed_by"])
    try:
        return commit_import(imp, progress=progress)  # checks and writes in one pass
    except Exception as exc:
        mark_failed(imp, f"{type(exc).__name__}: {exc}"[:500])
        raise
