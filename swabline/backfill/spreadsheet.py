"""Paper tubes through a spreadsheet: the template, and reading it back.

One row per person; the rows of a tube repeat its label, collection time and sheet
reference. A person is found by their Swabline code or CCCD, or registered from
name, year of birth and sex (the same identity rules as the people register: an
existing record is found, not duplicated). The upload is checked whole first and
every problem is reported with its row and column; only a file without problems is
committed, all in one transaction (`commit`). The same file again answers the first
upload. Cells are read as values only (calamine), after the zip/XML safety checks of
the people import; the template's cells are text cells, so nothing becomes a formula.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from swabline.backfill import services
from swabline.backfill.enums import EntrySource
from swabline.backfill.models import BackfillUpload
from swabline.campaigns.models import Site
from swabline.people.codes import normalize_person_code
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Person
from swabline.people.services import PersonInput, register_person

MAX_ROWS = 2000
COLUMNS = (
    ("tube", gettext_lazy("Tube label")),
    ("collected_at", gettext_lazy("Collected at (YYYY-MM-DD HH:MM)")),
    ("sheet_ref", gettext_lazy("Paper sheet")),
    ("person_code", gettext_lazy("Person code")),
    ("full_name", gettext_lazy("Full name")),
    ("birth_year", gettext_lazy("Year of birth")),
    ("sex", gettext_lazy("Sex (M/F)")),
    ("phone", gettext_lazy("Phone")),
    ("national_id", gettext_lazy("CCCD")),
)
SEXES = {"m": Sex.MALE, "nam": Sex.MALE, "f": Sex.FEMALE, "nữ": Sex.FEMALE, "nu": Sex.FEMALE}


def template_xlsx() -> bytes:
    """The empty template: a header row of text cells and one example row."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet = workbook.create_sheet(str(gettext_lazy("Paper tubes")))
    bold = Font(bold=True)
    header = []
    for _key, title in COLUMNS:
        cell = WriteOnlyCell(sheet, value=str(title))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    example = ["", "2026-01-31 08:30", "A-001", "", "Nguyễn Văn An", "1980", "M", "", ""]
    row = []
    for value in example:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "@"
        cell.data_type = "s"
        row.append(cell)
    sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class Parsed:
    tubes: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _when(value: Any) -> dt.datetime | None:
    zone = ZoneInfo(settings.TIME_ZONE)
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=zone)
    text = _text(value)
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def read_rows(content: bytes) -> list[list[Any]]:
    """The cell values of the first sheet (header included), after the safety checks."""
    from python_calamine import CalamineError, CalamineWorkbook

    from swabline.people.importing import FileProblem, check_xlsx_safety

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.xlsx"
        path.write_bytes(content)
        try:
            check_xlsx_safety(path)
            workbook = CalamineWorkbook.from_path(str(path))
            rows = workbook.get_sheet_by_index(0).to_python()
        except (CalamineError, OSError, ValueError, FileProblem) as exc:
            raise ValidationError(_("This file is not a readable XLSX spreadsheet.")) from exc
    return [list(r) for r in rows]


def parse(rows: list[list[Any]], site: Site, by: Any) -> Parsed:
    """Check every row; people found by code or CCCD are looked up in two queries."""
    parsed = Parsed()
    if not rows:
        parsed.errors.append(RowError(1, "", _("The file is empty.")))
        return parsed
    body = [r for r in rows[1:] if any(_text(c) for c in r)]
    if len(body) > MAX_ROWS:
        parsed.errors.append(RowError(1, "", _("At most %(n)d rows.") % {"n": MAX_ROWS}))
        return parsed
    keys = [k for k, _title in COLUMNS]
    records = []
    for number, raw in enumerate(rows[1:], start=2):
        values = {k: (raw[i] if i < len(raw) else None) for i, k in enumerate(keys)}
        if not any(_text(v) for v in values.values()):
            continue
        records.append((number, values))
    parsed.rows = len(records)
    codes = {normalize_person_code(_text(v["person_code"])) or "" for _n, v in records} - {""}
    cccds = {_text(v["national_id"]) for _n, v in records} - {""}
    by_code = {p.code: p for p in Person.objects.filter(code__in=codes, merged_into__isnull=True)}
    by_cccd: dict[str, Person] = {
        p.national_id or "": p
        for p in Person.objects.filter(national_id__in=cccds, merged_into__isnull=True)
    }
    for number, values in records:
        tube = _text(values["tube"])
        if not tube:
            parsed.errors.append(RowError(number, str(COLUMNS[0][1]), _("Type the tube's label.")))
            continue
        when = _when(values["collected_at"])
        if when is None:
            parsed.errors.append(
                RowError(number, str(COLUMNS[1][1]), _("Write the time as YYYY-MM-DD HH:MM."))
            )
        sheet_ref = _text(values["sheet_ref"])
        entry = parsed.tubes.setdefault(
            tube, {"collected_at": when, "sheet_ref": sheet_ref, "people": [], "rows": []}
        )
        if when is not None and entry["collected_at"] not in (None, when):
            parsed.errors.append(
                RowError(number, str(COLUMNS[1][1]), _("A tube's rows must have the same time."))
            )
        person = _person(number, values, site, by_code, by_cccd, parsed)
        entry["people"].append(person)
        entry["rows"].append(number)
    return parsed


def _person(
    number: int,
    values: dict[str, Any],
    site: Site,
    by_code: dict[str, Person],
    by_cccd: dict[str, Person],
    parsed: Parsed,
) -> Person | PersonInput | None:
    typed = _text(values["person_code"])
    code = normalize_person_code(typed) or ""
    if typed and not code:
        parsed.errors.append(
            RowError(number, str(COLUMNS[3][1]), _("This is not a valid person code."))
        )
        return None
    if code:
        if code not in by_code:
            parsed.errors.append(
                RowError(number, str(COLUMNS[3][1]), _("No person has this code."))
            )
            return None
        return by_code[code]
    cccd = _text(values["national_id"])
    if cccd and cccd in by_cccd:
        return by_cccd[cccd]
    sex = SEXES.get(_text(values["sex"]).lower())
    if sex is None:
        parsed.errors.append(RowError(number, str(COLUMNS[6][1]), _("Write M or F.")))
        return None
    return PersonInput(
        full_name=_text(values["full_name"]),
        birth=_text(values["birth_year"]),
        sex=sex,
        ward=site.ward,
        phone=_text(values["phone"]),
        national_id=cccd,
    )


def upload(
    *, by: Any, site: Site, file_name: str, content: bytes
) -> tuple[BackfillUpload | None, list[RowError]]:
    """Check and commit a spreadsheet of paper tubes for `site`, all or nothing.

    People found by code or CCCD are looked up in two queries; a new person is
    registered row by row (the people register's identity rules find an existing
    record); the tubes are then written set-based (`services.enter_paper_tubes`).
    Returns (the upload, []) when committed, or (None, errors) when any row is wrong
    (nothing written). The same file again returns its first upload."""
    services.require_backfill(by, site)
    sha = hashlib.sha256(content).hexdigest()
    earlier = BackfillUpload.objects.filter(site=site, sha256=sha).first()
    if earlier is not None:
        return earlier, []
    parsed = parse(read_rows(content), site, by)
    if parsed.errors:
        return None, parsed.errors
    errors: list[RowError] = []
    try:
        with transaction.atomic():
            record = BackfillUpload.objects.create(
                site=site, file_name=file_name[:200], sha256=sha, uploaded_by=by
            )
            papers, first_rows = [], []
            for code, tube in parsed.tubes.items():
                people = _people(by, tube, errors)
                papers.append(
                    services.PaperTube(
                        code=code,
                        collected_at=tube["collected_at"],
                        sheet_ref=tube["sheet_ref"],
                        people=people,
                    )
                )
                first_rows.append(tube["rows"][0])
            if errors:
                raise ValidationError("rolled back")
            entries, refused = services.enter_paper_tubes(
                by=by, site=site, papers=papers, source=EntrySource.XLSX, upload=record
            )
            for index, fields in sorted(refused.items()):
                for column, messages in fields.items():
                    errors += [RowError(first_rows[index], column, m) for m in messages]
            if errors:
                raise ValidationError("rolled back")
            people_count = sum(e.people for e in entries)
            BackfillUpload.objects.filter(pk=record.pk).update(
                tubes=len(entries), people=people_count
            )
            record.tubes, record.people = len(entries), people_count
    except ValidationError:
        if not errors:
            raise
        return None, errors
    return record, []


def _people(by: Any, tube: dict[str, Any], errors: list[RowError]) -> list[Person]:
    people = []
    for number, item in zip(tube["rows"], tube["people"], strict=True):
        if isinstance(item, PersonInput):
            try:
                with transaction.atomic():
                    item = register_person(data=item, by=by, source=DeclarationSource.STAFF).person
            except ValidationError as exc:
                for column, messages in exc.message_dict.items():
                    errors += [RowError(number, column, m) for m in messages]
                continue
        people.append(item)
    return people
