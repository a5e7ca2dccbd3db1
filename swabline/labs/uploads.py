"""Bulk upload of results exported by PCR software (CSV or XLSX).

upload (`create_upload`: stored, checksummed) → mapping (`mapping_for`: the lab's
saved `ColumnMapping` when it fits the headers, else a guess the technician confirms)
→ check (`validate_upload`: a per-row report, nothing written) → apply
(`apply_upload`: atomic, all valid rows or nothing).

Rules: a row whose tube already holds the same result is *unchanged* (so uploading
the same file again changes nothing); a row whose tube holds a different result
(entered or released) is a *contradiction*, reported and never applied; rows with
errors or contradictions block the apply until the technician leaves them out.

Speed: rows are checked for form in Python, then staged into a temporary table
(COPY on PostgreSQL) and checked against tubes, receipts and current results with
one query; the apply is one INSERT…SELECT of results and one UPDATE of tube status.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.core.text import fold
from swabline.labs import queries
from swabline.labs.enums import ResultSource, ResultState, ResultValue, UploadStatus
from swabline.labs.models import ColumnMapping, Lab, ResultUpload
from swabline.labs.services import CT_MAX, CT_MIN
from swabline.people import importing
from swabline.sampling.codes import normalize_tube_code
from swabline.sampling.enums import TubeStatus

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
HEADER_SCAN_ROWS = 30
REPORT_LIMIT = 1000
STAGE = "labs_result_stage"
CLASSIFIED = "labs_result_classified"
DEFAULT_MAPPING = "default"

# Header words (folded) that name each field, and the words PCR software uses for results.
ALIASES: dict[str, tuple[str, ...]] = {
    "tube_code": (
        "tube", "tube code", "tube id", "tube barcode", "sample", "sample name", "sample id",
        "specimen", "specimen id", "barcode", "ma ong", "ma ong mau", "ma mau", "ten mau", "ong",
    ),
    "result": (
        "result", "results", "call", "final call", "interpretation", "outcome", "ket qua",
        "ket luan", "target result",
    ),
    "well": ("well", "well position", "position", "gieng", "vi tri"),
    "run_id": ("run", "run id", "run name", "experiment", "experiment name", "plate", "plate id",
               "ma chay", "lan chay"),
}  # fmt: skip
DEFAULT_WORDS: dict[str, list[str]] = {
    ResultValue.NEGATIVE: ["Negative", "NEG", "Not detected", "ND", "Âm tính", "-"],
    ResultValue.POSITIVE: ["Positive", "POS", "Detected", "Dương tính", "+"],
    ResultValue.INVALID: ["Invalid", "INV", "Inconclusive", "Không xác định", "Error", "Failed"],
}
_CT_HEADER = re.compile(
    r"^(?:ct|cq|c t)[\s_:\-.]*(?P<target>.+)$|^(?P<before>.+?)[\s_:\-.]*(?:ct|cq)$"
)

ROW_MESSAGES: dict[str, Any] = {
    "no_tube": gettext_lazy("The tube code is empty."),
    "unknown_tube": gettext_lazy("No tube has this code."),
    "not_at_lab": gettext_lazy("This tube has not been received at this lab."),
    "not_received": gettext_lazy("This tube has not been received yet."),
    "rejected": gettext_lazy("This tube was rejected at receipt; it takes no result."),
    "unknown_word": gettext_lazy(
        "“%(word)s” is not one of the words mapped to negative, positive or invalid."
    ),
    "no_result": gettext_lazy("The result is empty."),
    "bad_ct": gettext_lazy("“%(value)s” is not a Ct value (a number from 0 to 50)."),
    "duplicate_conflict": gettext_lazy(
        "The same tube is on row %(other)s of this file with a different result."
    ),
    "contradiction": gettext_lazy(
        "This tube already has the result %(existing)s (%(state)s); this row says "
        "%(value)s. It was not applied: ask a supervisor if the recorded result is wrong."
    ),
}


class UploadRefused(ValidationError):
    """The whole file or the request cannot be used; shown as is."""


# --- Reading files -----------------------------------------------------------------


@dataclass
class Table:
    rows: list[list[Any]]
    info: dict[str, str]


def read_table(path: Path, filename: str) -> Table:
    """Every row of a CSV (UTF-8, UTF-8 with BOM, Windows-1258/1252 detected) or of the
    first visible worksheet of an XLSX. Raises `UploadRefused` with the reason."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise UploadRefused(_("The file is empty."), code="empty_file")
    try:
        file_format = importing.file_format_of(filename, head)
        if file_format == "xlsx":
            return _read_xlsx(path)
        return _read_csv(path)
    except importing.FileProblem as exc:
        raise UploadRefused(str(exc.message), code=exc.code) from exc


def _read_csv(path: Path) -> Table:
    encoding = importing.detect_csv_encoding(path)
    text = path.read_bytes().decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    first_lines = text[:20_000].splitlines()[:HEADER_SCAN_ROWS]
    delimiter = max((",", ";", "\t", "|"), key=lambda d: sum(line.count(d) for line in first_lines))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise UploadRefused(
            str(importing.FILE_MESSAGES["csv_damaged"]), code="csv_damaged"
        ) from exc
    label = {"utf-8-sig": "UTF-8 (BOM)", "cp1258": "Windows-1258", "cp1252": "Windows-1252"}
    return Table(rows, {"format": "CSV", "encoding": label.get(encoding, encoding.upper())})


def _read_xlsx(path: Path) -> Table:
    importing.check_xlsx_safety(path)
    from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        for index, meta in enumerate(workbook.sheets_metadata):
            if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible:
                sheet = workbook.get_sheet_by_index(index)
                return Table(
                    sheet.to_python(skip_empty_area=False), {"format": "XLSX", "sheet": sheet.name}
                )
    except (CalamineError, OSError, ValueError) as exc:
        raise UploadRefused(str(importing.FILE_MESSAGES["damaged"]), code="damaged") from exc
    raise UploadRefused(str(importing.FILE_MESSAGES["damaged"]), code="damaged")


@lru_cache(maxsize=4096)
def folded(text: str) -> str:
    return fold(text)


def cell_text(cell: Any) -> str:
    """A cell as text; calamine's floats that hold whole numbers lose their `.0`."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        if math.isfinite(cell) and cell.is_integer() and abs(cell) < 1e18:
            return str(int(cell))
        return repr(cell)
    return str(cell).strip()


# --- Mapping -----------------------------------------------------------------------


@dataclass
class Mapping:
    """Which header names which field, and which words mean which result."""

    columns: dict[str, Any]  # {"tube_code": "Sample", ..., "ct": {"E": "Ct E"}}
    values: dict[str, list[str]]

    @classmethod
    def of(cls, saved: ColumnMapping) -> Mapping:
        return cls(dict(saved.columns), {k: list(v) for k, v in saved.values.items()})

    def words(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for value, words in self.values.items():
            for word in words:
                table.setdefault(fold(str(word)), value)
        return table

    def fits(self, header: list[str]) -> bool:
        present = set(header)
        needed = [self.columns.get("tube_code"), self.columns.get("result")]
        ct = list(self.columns.get("ct", {}).values())
        return all(name and name in present for name in needed) and all(c in present for c in ct)


def guess_mapping(header: list[str]) -> Mapping:
    """A first mapping from header names alone."""
    columns: dict[str, Any] = {"ct": {}}
    for name in header:
        key = fold(name).replace("_", " ").strip()
        if not key:
            continue
        for field_name, aliases in ALIASES.items():
            if field_name not in columns and key in aliases:
                columns[field_name] = name
                break
        else:
            target = ct_target(name)
            if target and target not in columns["ct"]:
                columns["ct"][target] = name
    return Mapping(columns, {k: list(v) for k, v in DEFAULT_WORDS.items()})


def ct_target(header: str) -> str | None:
    """ "Ct E" → "E", "CT_N" → "N", "RdRp Ct" → "RdRp", "Cq ORF1ab" → "ORF1ab"."""
    match = _CT_HEADER.match(header.strip().lower())
    if not match:
        return None
    start, end = match.span("target") if match.group("target") else match.span("before")
    target = header.strip()[start:end].strip(" _:-.")
    return target[:20] or None


def find_header(rows: list[list[Any]], saved: Mapping | None = None) -> int | None:
    """Index of the header row: the first of the first rows naming the tube column."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        names = [cell_text(c) for c in row]
        if saved is not None and saved.fits(names):
            return index
        guess = guess_mapping(names)
        if "tube_code" in guess.columns and ("result" in guess.columns or guess.columns["ct"]):
            return index
    return None


def mapping_for(lab: Lab, header: list[str]) -> tuple[Mapping, bool]:
    """The lab's saved mapping if it fits these headers (True), else a guess (False)."""
    for saved in ColumnMapping.objects.filter(lab=lab).order_by("-updated_at"):
        mapping = Mapping.of(saved)
        if mapping.fits(header):
            return mapping, True
    return guess_mapping(header), False


def save_mapping(*, by: Any, lab: Lab, mapping: Mapping) -> ColumnMapping:
    """Keep the confirmed mapping for the lab's next uploads."""
    if not has_permission(by, Permission.ENTER_RESULTS, lab):
        raise PermissionDenied
    saved, _created = ColumnMapping.objects.update_or_create(
        lab=lab,
        name=DEFAULT_MAPPING,
        defaults={"columns": mapping.columns, "values": mapping.values, "updated_by": by},
    )
    return saved


# --- Checking rows -----------------------------------------------------------------


@dataclass
class Checked:
    """Rows fit to stage, and the report so far."""

    staged: list[tuple[int, str, str, str, str, str]] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    error_rows: set[int] = field(default_factory=set)
    rows: int = 0
    repeats: int = 0
    db_errors: int = 0
    contradictions: int = 0

    @property
    def blocked(self) -> int:
        return len(self.error_rows) + self.db_errors + self.contradictions

    def error(self, row: int, field_name: str, code: str, **params: Any) -> None:
        self.error_rows.add(row)
        self.note(row, field_name, code, **params)

    def note(self, row: int, field_name: str, code: str, **params: Any) -> None:
        if len(self.report) < REPORT_LIMIT:
            message = str(ROW_MESSAGES[code]) % params if params else str(ROW_MESSAGES[code])
            self.report.append({"row": row, "field": field_name, "code": code, "message": message})


def check_rows(table: Table, header_index: int, mapping: Mapping) -> Checked:
    """Check each row's form (tube code, result word, Ct values) and repeats in the file."""
    header = [cell_text(c) for c in table.rows[header_index]]
    position = {name: i for i, name in reversed(list(enumerate(header)))}
    cols = mapping.columns

    def at(name: str | None) -> int | None:
        return position.get(name) if name else None

    tube_i, result_i = at(cols.get("tube_code")), at(cols.get("result"))
    well_i, run_i = at(cols.get("well")), at(cols.get("run_id"))
    ct_i = {target: at(name) for target, name in cols.get("ct", {}).items()}
    words = mapping.words()
    json_keys = {target: json.dumps(target) for target in ct_i}
    checked = Checked()
    seen: dict[str, tuple[int, str]] = {}
    used = [i for i in (tube_i, result_i, well_i, run_i, *ct_i.values()) if i is not None]
    width = max(used, default=0) + 1
    padding: list[Any] = [None] * (width + 1)
    # Index `width` is always None: a column not mapped reads as empty.
    none_i = width
    tube_x, result_x = _or(tube_i, none_i), _or(result_i, none_i)
    well_x, run_x = _or(well_i, none_i), _or(run_i, none_i)
    targets = [(target, _or(index, none_i)) for target, index in ct_i.items()]
    no_ct_json = ct_json(dict.fromkeys(ct_i), json_keys)
    ct_of = _ct_cache()
    for offset, row in enumerate(table.rows[header_index + 1 :], start=header_index + 2):
        row = [*row, *padding[: width + 1 - len(row)]] if len(row) <= width else row
        raw_code = row[tube_x]
        if raw_code in (None, "") and not any(cell_text(c) for c in row):
            continue
        checked.rows += 1
        if checked.rows > MAX_ROWS:
            raise UploadRefused(
                _("A file holds at most %(max)s rows; split it.") % {"max": f"{MAX_ROWS:,}"},
                code="too_many_rows",
            )
        ok = True
        code = raw_code if type(raw_code) is str and raw_code.isdigit() else cell_text(raw_code)
        if not code.isdigit():
            code = normalize_tube_code(code)
        if not code:
            checked.error(offset, "tube_code", "no_tube")
            ok = False
        word = cell_text(row[result_x])
        value = words.get(folded(word))
        if not word:
            checked.error(offset, "result", "no_result")
            ok = False
        elif value is None:
            checked.error(offset, "result", "unknown_word", word=word[:40])
            ok = False
        ct: dict[str, float | None] = {}
        for target, index in targets:
            raw = row[index]
            ct_value = ct_of(raw)
            if ct_value is False:
                checked.error(offset, f"ct:{target}", "bad_ct", value=cell_text(raw)[:20])
                ok = False
            else:
                ct[target] = ct_value
        if not ok or value is None:
            continue
        if code in seen:
            first_row, first_value = seen[code]
            if first_value != value:
                checked.error(offset, "result", "duplicate_conflict", other=first_row)
                checked.error(first_row, "result", "duplicate_conflict", other=offset)
            else:
                checked.repeats += 1
            continue
        seen[code] = (offset, value)
        well, run = row[well_x], row[run_x]
        checked.staged.append(
            (
                offset,
                code,
                value,
                ct_json(ct, json_keys) if any(v is not None for v in ct.values()) else no_ct_json,
                (well if type(well) is str else cell_text(well))[:10],
                (run if type(run) is str else cell_text(run))[:100],
            )
        )
    if checked.error_rows:
        checked.staged = [row for row in checked.staged if row[0] not in checked.error_rows]
    return checked


def _or(index: int | None, default: int) -> int:
    return default if index is None else index


def _ct_cache() -> Any:
    """`_ct` remembering text cells: exports repeat "Undetermined" and empty cells."""
    memo: dict[str, float | bool | None] = {}

    def ct_of(raw: Any) -> float | bool | None:
        if type(raw) is str:
            found = memo.get(raw, memo)
            if found is memo:
                found = _ct(raw)
                if len(memo) < 10_000:
                    memo[raw] = found
            return found  # type: ignore[return-value]
        return _ct(raw)

    return ct_of


def _ct(raw: Any) -> float | bool | None:
    """A Ct cell: a float in range, None when empty or "undetermined", False when bad."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        try:
            value = float(raw)
        except ValueError:
            text = raw.strip()
            if not text or folded(text) in NO_CT:
                return None
            try:
                value = float(text.replace(",", "."))
            except ValueError:
                return False
    if math.isnan(value) or not CT_MIN <= value <= CT_MAX:
        return False
    return round(value, 2)


NO_CT = frozenset({"undetermined", "undet", "no ct", "n/a", "na", "-", "khong", "no cq"})


def ct_json(ct: dict[str, float | None], keys: dict[str, str]) -> str:
    """`json.dumps(ct)` for our flat {target: float | None}, several times faster."""
    return (
        "{" + ",".join(f"{keys[t]}:{'null' if v is None else repr(v)}" for t, v in ct.items()) + "}"
    )


# --- Staging and classifying -------------------------------------------------------


def _stage(rows: list[tuple[int, str, str, str, str, str]]) -> None:
    columns = "row_no, tube_code, value, ct, well, run_id"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE} (row_no integer, tube_code varchar(64), "
            "value varchar(10), ct text, well varchar(10), run_id varchar(100))"
        )
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {STAGE} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
                rows,
            )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {STAGE}")


def _classified_sql(lab: Lab) -> tuple[str, list[Any]]:
    """SELECT over the stage: each row's kind (new, unchanged, contradiction, or why it
    cannot apply), with its tube and any current result."""
    at_lab_sql, at_lab_params = (
        queries.tubes_at_lab(lab).order_by().values("id").query.sql_with_params()
    )
    sql = f"""
        SELECT s.row_no, s.tube_code, s.value, s.ct, s.well, s.run_id, t.id AS tube_id,
               t.status AS tube_status, r.value AS existing, r.state AS existing_state,
               CASE
                 WHEN t.id IS NULL THEN 'unknown_tube'
                 WHEN t.status = 'rejected' THEN 'rejected'
                 WHEN a.id IS NULL THEN
                   CASE WHEN t.status IN ('open', 'closed', 'shipped') THEN 'not_received'
                        ELSE 'not_at_lab' END
                 WHEN r.id IS NOT NULL AND r.value = s.value THEN 'unchanged'
                 WHEN r.id IS NOT NULL THEN 'contradiction'
                 WHEN t.status IN ('received', 'resulted') THEN 'new'
                 ELSE 'not_at_lab'
               END AS kind
        FROM {STAGE} s
        LEFT JOIN sampling_tube t ON t.code = s.tube_code
        LEFT JOIN ({at_lab_sql}) a ON a.id = t.id
        LEFT JOIN labs_tuberesult r ON r.tube_id = t.id AND r."current"
    """  # noqa: S608
    return sql, list(at_lab_params)


def _classify(lab: Lab, checked: Checked) -> dict[str, int]:
    """Counts per kind; rows that cannot apply and contradictions go into the report."""
    sql, params = _classified_sql(lab)
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        # Classified once, kept for the report, the insert and the tube update.
        cursor.execute(f"DROP TABLE IF EXISTS {CLASSIFIED}")
        cursor.execute(f"CREATE TEMPORARY TABLE {CLASSIFIED} AS {sql}", params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {CLASSIFIED}")
        cursor.execute(f"SELECT kind, COUNT(*) FROM {CLASSIFIED} GROUP BY kind")  # noqa: S608
        for kind, count in cursor.fetchall():
            counts[kind] = count
        if not set(counts) - {"new", "unchanged"}:
            return counts
        cursor.execute(
            f"SELECT row_no, value, existing, existing_state, kind FROM {CLASSIFIED} "  # noqa: S608
            f"WHERE kind NOT IN ('new', 'unchanged') ORDER BY row_no LIMIT {REPORT_LIMIT}"
        )
        problems = cursor.fetchall()
    checked.contradictions = counts.get("contradiction", 0)
    checked.db_errors = sum(
        n for kind, n in counts.items() if kind not in ("new", "unchanged", "contradiction")
    )
    for row_no, value, existing, state, kind in problems:
        if kind == "contradiction":
            checked.note(
                row_no,
                "result",
                kind,
                existing=ResultValue(existing).label,
                state=ResultState(state).label.lower(),
                value=ResultValue(value).label,
            )
        else:
            checked.note(row_no, "tube_code", kind)
    return counts


# --- The upload's life -------------------------------------------------------------


def upload_dir() -> Path:
    folder = importing.import_dir() / "lab-results"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def file_path(upload: ResultUpload) -> Path:
    return upload_dir() / f"{upload.public_id}.bin"


def create_upload(*, by: Any, lab: Lab, file: Any, file_name: str) -> ResultUpload:
    """Store an uploaded file (ENTER_RESULTS at the lab) and note its checksum."""
    if not has_permission(by, Permission.ENTER_RESULTS, lab):
        raise PermissionDenied
    digest = hashlib.sha256()
    upload = ResultUpload(lab=lab, file_name=file_name[:255], uploaded_by=by, sha256="")
    size = 0
    target = upload_dir() / f"{upload.public_id}.bin"
    with target.open("wb") as out:
        for chunk in _chunks(file):
            size += len(chunk)
            if size > MAX_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                raise UploadRefused(
                    _("The file is larger than %(mb)s MB.") % {"mb": MAX_BYTES // 2**20},
                    code="too_big",
                )
            digest.update(chunk)
            out.write(chunk)
    upload.sha256 = digest.hexdigest()
    upload.save()
    return upload


def _chunks(file: Any) -> Iterator[bytes]:
    if isinstance(file, bytes):
        yield file
    elif isinstance(file, Path):
        with file.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk
    else:
        yield from file.chunks()


@dataclass
class Prepared:
    table: Table
    header_index: int
    header: list[str]
    mapping: Mapping
    saved: bool


def prepare(upload: ResultUpload) -> Prepared:
    """Read the stored file and find its header and mapping."""
    table = read_table(file_path(upload), upload.file_name)
    saved = next(
        (
            Mapping.of(m)
            for m in ColumnMapping.objects.filter(lab=upload.lab).order_by("-updated_at")
        ),
        None,
    )
    index = find_header(table.rows, saved)
    if index is None:
        raise UploadRefused(
            _("No header row naming the tube code column was found in the first rows."),
            code="no_header",
        )
    header = [cell_text(c) for c in table.rows[index]]
    mapping, fits = mapping_for(upload.lab, header)
    return Prepared(table, index, header, mapping, fits)


def validate_upload(
    *, by: Any, upload: ResultUpload, mapping: Mapping, prepared: Prepared | None = None
) -> ResultUpload:
    """Check every row against the file's rules and the database; record the report
    and counts on the upload. Writes no result. The rows that passed the file's own
    checks are kept beside the upload so the apply does not read the file again."""
    _require(by, upload)
    prepared = prepared or prepare(upload)
    checked = check_rows(prepared.table, prepared.header_index, mapping)
    _write_side(upload, checked, mapping)
    with transaction.atomic():
        _stage(checked.staged)
        counts = _classify(upload.lab, checked)
        transaction.set_rollback(True)
    _record(upload, checked, counts, mapping)
    return upload


def side_path(upload: ResultUpload) -> Path:
    return upload_dir() / f"{upload.public_id}.rows"


def _write_side(upload: ResultUpload, checked: Checked, mapping: Mapping) -> None:
    meta = {
        "sha256": upload.sha256,
        "mapping": {"columns": mapping.columns, "values": mapping.values},
        "rows": checked.rows,
        "repeats": checked.repeats,
        "error_rows": sorted(checked.error_rows),
        "report": checked.report,
    }
    with side_path(upload).open("w", encoding="utf-8") as out:
        out.write(json.dumps(meta, ensure_ascii=False) + "\n")
        esc = importing.copy_text
        out.writelines(
            f"{r[0]}\t{esc(r[1])}\t{r[2]}\t{esc(r[3])}\t{esc(r[4])}\t{esc(r[5])}\n"
            for r in checked.staged
        )


def _read_side(upload: ResultUpload, mapping: Mapping) -> Checked | None:
    """The checked rows kept by `validate_upload`, if made for this file and mapping."""
    path = side_path(upload)
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as handle:
        meta = json.loads(handle.readline())
        same = {"columns": mapping.columns, "values": mapping.values}
        if meta["sha256"] != upload.sha256 or meta["mapping"] != json.loads(json.dumps(same)):
            return None
        staged = []
        for line in handle:
            row_no, code, value, ct, well, run_id = importing.parse_copy_line(line)
            staged.append((int(row_no), code, value, ct, well, run_id))
    checked = Checked(staged=staged, rows=meta["rows"], repeats=meta["repeats"])
    checked.error_rows = set(meta["error_rows"])
    checked.report = meta["report"]
    return checked


def _record(
    upload: ResultUpload, checked: Checked, counts: dict[str, int], mapping: Mapping
) -> None:
    checked.report.sort(key=lambda e: (e["row"], e["field"]))
    upload.rows = checked.rows
    upload.created = counts.get("new", 0)
    upload.unchanged = counts.get("unchanged", 0) + checked.repeats
    upload.contradictions = checked.contradictions
    upload.errors = len(checked.error_rows) + checked.db_errors
    upload.report = checked.report
    upload.mapping = ColumnMapping.objects.filter(lab=upload.lab, name=DEFAULT_MAPPING).first()
    upload.save(
        update_fields=[
            "rows",
            "created",
            "unchanged",
            "contradictions",
            "errors",
            "report",
            "mapping",
        ]
    )


def apply_upload(
    *, by: Any, upload: ResultUpload, mapping: Mapping, leave_out_errors: bool = False
) -> ResultUpload:
    """Apply the upload: every row that can apply, or nothing.

    Rows with errors or contradictions refuse the whole apply unless
    `leave_out_errors` (the technician removed them). In one transaction: the rows
    are checked again, new results are inserted (entered, source upload), their
    tubes move `received → resulted`, the upload is marked applied, one audit event
    `results.uploaded`. Already-recorded rows are counted unchanged.
    """
    _require(by, upload)
    if upload.status == UploadStatus.APPLIED:
        return upload
    checked = _read_side(upload, mapping)
    if checked is None:
        prepared = prepare(upload)
        checked = check_rows(prepared.table, prepared.header_index, mapping)
    try:
        with transaction.atomic():
            _stage(checked.staged)
            counts = _classify(upload.lab, checked)
            blocked = checked.blocked
            if blocked and not leave_out_errors:
                transaction.set_rollback(True)
            else:
                created = _insert(by, upload)
                _record(upload, checked, counts, mapping)
                upload.created = created
                upload.status = UploadStatus.APPLIED
                upload.applied_at = timezone.now()
                upload.save(update_fields=["created", "status", "applied_at"])
                audit.record(
                    by=by,
                    action="results.uploaded",
                    subject=upload,
                    province_code=upload.lab.province_code,
                    created=created,
                    unchanged=upload.unchanged,
                    left_out=blocked,
                )
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    except IntegrityError as exc:
        raise UploadRefused(
            _("Results of these tubes changed while the file was applied; check it again."),
            code="changed",
        ) from exc
    if upload.status != UploadStatus.APPLIED:
        _record(upload, checked, counts, mapping)
        raise UploadRefused(
            _("%(n)s rows have errors or contradict a recorded result: leave them out "
              "or fix the file.") % {"n": blocked},
            code="has_errors",
        )  # fmt: skip
    return upload


def _insert(by: Any, upload: ResultUpload) -> int:
    """Write the rows `_classify` found new: their results, then their tubes' status."""
    ct = "CAST(n.ct AS jsonb)" if connection.vendor == "postgresql" else "n.ct"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO labs_tuberesult (tube_id, lab_id, value, ct_values, method, well, run_id,
                source, upload_id, state, "current", entered_by_id, entered_at, amendment_reason,
                province_code)
            SELECT n.tube_id, %s, n.value, {ct}, '', n.well, n.run_id, %s, %s, %s, %s, %s, %s, '',
                t.province_code
            FROM {CLASSIFIED} n JOIN sampling_tube t ON t.id = n.tube_id WHERE n.kind = 'new'
            """,  # noqa: S608
            [upload.lab_id, ResultSource.UPLOAD, upload.pk, ResultState.ENTERED, True, by.pk,
             timezone.now()],
        )  # fmt: skip
        created = cursor.rowcount
        cursor.execute(
            f"UPDATE sampling_tube SET status = %s WHERE status = %s AND id IN "  # noqa: S608
            f"(SELECT tube_id FROM {CLASSIFIED} WHERE kind = 'new')",
            [TubeStatus.RESULTED, TubeStatus.RECEIVED],
        )
        cursor.execute(f"DROP TABLE {CLASSIFIED}")
    return created


def _require(by: Any, upload: ResultUpload) -> None:
    if not has_permission(by, Permission.ENTER_RESULTS, upload.lab):
        raise PermissionDenied


def same_file_applied(upload: ResultUpload) -> ResultUpload | None:
    """An earlier applied upload of the very same file at the same lab."""
    return (
        ResultUpload.objects.filter(
            lab=upload.lab, sha256=upload.sha256, status=UploadStatus.APPLIED
        )
        .exclude(pk=upload.pk)
        .order_by("-applied_at")
        .first()
    )


def words_text(words: Iterable[str]) -> str:
    return "; ".join(words)


def parse_words(text: str) -> list[str]:
    return [w.strip() for w in re.split(r"[;\n]", text) if w.strip()]
