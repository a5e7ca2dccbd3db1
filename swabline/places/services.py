"""Writes to the administrative-unit tree: loading the official units and their history.

The source is the `vietnamadminunits` package (MIT): its SQLite dataset for the units
and its converter JSON for the old→new ward mapping. We read the data files directly;
the package's own modules import geopy and shapely, which we do not need.
See docs/places-data.md for what is loaded and the discrepancies found in the data.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from swabline.core.text import fold, normalize_text
from swabline.places.enums import Level, System
from swabline.places.models import DataSource, Place, PlaceSuccession

PACKAGE = "vietnamadminunits"
PACKAGE_URL = "https://pypi.org/project/vietnamadminunits/"
PACKAGE_LICENCE = "MIT"
BATCH_SIZE = 1000

# A name starts with its kind, matched as whole words followed by a space.
PROVINCE_KINDS = ("Thành phố", "Tỉnh")
DISTRICT_KINDS = ("Thành phố", "Thị xã", "Quận", "Huyện")
WARD_KINDS = ("Đặc khu", "Thị trấn", "Phường", "Xã")

# Fields the loader owns on a Place; everything else (and every hamlet) is left alone.
PLACE_FIELDS = ("name", "short_name", "kind", "name_folded", "parent_id", "path", "province_code")

Key = tuple[str, str, str]
"""A place's natural key: (system, level, code)."""


class Writer(Protocol):
    """Anything with `write(str)`: a management command's stdout, a StringIO, a file."""

    def write(self, msg: str, /) -> object: ...


@dataclass(frozen=True)
class Unit:
    """One administrative unit as the source describes it."""

    system: str
    level: str
    code: str
    name: str
    short_name: str
    kind: str
    province_code: str
    parent: Key | None
    source_key: str  # how converter_2025.json names it

    @property
    def key(self) -> Key:
        return (self.system, self.level, self.code)


@dataclass(frozen=True)
class Source:
    """Everything read from the package, before it touches the database."""

    version: str
    units: list[Unit]
    # (legacy source key, current source key, is_default)
    successions: list[tuple[str, str, bool]]


@dataclass
class LoadReport:
    """What a load found in the source and what it changed in the database.

    `created`, `updated` and `deleted` count places and successions (not the
    DataSource row). `unmatched` counts legacy wards without a successor,
    `unresolved` converter entries naming a unit missing from the dataset, and
    `stale` loaded places that the source no longer lists (kept, never deleted).
    """

    provinces_current: int = 0
    wards_current: int = 0
    provinces_legacy: int = 0
    districts_legacy: int = 0
    wards_legacy: int = 0
    successions: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unmatched: int = 0
    unresolved: int = 0
    stale: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command line."""
        line = (
            f"Places: {self.provinces_current} provinces, {self.wards_current} wards (current); "
            f"{self.provinces_legacy} provinces, {self.districts_legacy} districts, "
            f"{self.wards_legacy} wards (legacy); {self.successions} successions"
            f" — created {self.created}, updated {self.updated}"
        )
        if self.deleted:
            line += f", deleted {self.deleted} successions"
        return line + "."


# --- Reading the source ------------------------------------------------------------


def package_dir() -> Path:
    """The installed `vietnamadminunits` package directory, without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"The {PACKAGE} package is not installed.")
    return Path(spec.origin).parent


def dataset_path() -> Path:
    """The package's SQLite dataset (tables admin_units and admin_units_legacy)."""
    return package_dir() / "data" / "dataset.db"


def split_kind(name: str, kinds: Sequence[str], fallback: str) -> tuple[str, str, str]:
    """Split "Thành Phố Bắc Kạn" into ("Thành phố", "Thành phố Bắc Kạn", "Bắc Kạn").

    The kind is read from the name, which the data gets right more often than its
    type columns; it is re-spelled canonically. `fallback` is used for a name that
    starts with no known kind.
    """
    name = normalize_text(name)
    for kind in kinds:
        head, rest = name[: len(kind)], name[len(kind) + 1 :]
        if head.casefold() == kind.casefold() and name[len(kind) : len(kind) + 1] == " ":
            return kind, f"{kind} {rest}", rest
    return normalize_text(fallback), name, name


def _unit(
    system: str,
    level: str,
    code: str,
    named: tuple[str, str, str],
    province_code: str,
    parent: Key | None,
    source_key: str,
) -> Unit:
    kind, name, rest = named
    # "Phường 5" or "Quận 1" without its kind would be a bare number.
    short_name = name if rest[:1].isdigit() else rest
    return Unit(system, level, code, name, short_name, kind, province_code, parent, source_key)


def _rows(con: sqlite3.Connection, sql: str) -> Iterator[sqlite3.Row]:
    con.row_factory = sqlite3.Row
    yield from con.execute(sql)


def _current_units(con: sqlite3.Connection) -> Iterator[Unit]:
    sql = (
        "SELECT DISTINCT province, provinceCode, provinceKey, ward, wardType, wardCode, wardKey"
        " FROM admin_units ORDER BY provinceCode, wardCode"
    )
    for r in _rows(con, sql):
        pcode = r["provinceCode"]
        province = split_kind(r["province"], PROVINCE_KINDS, "")
        yield _unit(System.CURRENT, Level.PROVINCE, pcode, province, pcode, None, r["provinceKey"])
        ward = split_kind(r["ward"], WARD_KINDS, r["wardType"])
        parent = (System.CURRENT, Level.PROVINCE, pcode)
        key = f"{r['provinceKey']}_{r['wardKey']}"
        yield _unit(System.CURRENT, Level.WARD, r["wardCode"], ward, pcode, parent, key)


def _legacy_units(con: sqlite3.Connection) -> Iterator[Unit]:
    sql = (
        "SELECT DISTINCT province, provinceCode, provinceKey, district, districtType,"
        " districtCode, districtKey, ward, wardType, wardCode, wardKey"
        " FROM admin_units_legacy ORDER BY provinceCode, districtCode, wardCode"
    )
    for r in _rows(con, sql):
        pcode, dcode = r["provinceCode"], r["districtCode"]
        province = split_kind(r["province"], PROVINCE_KINDS, "")
        yield _unit(System.LEGACY, Level.PROVINCE, pcode, province, pcode, None, r["provinceKey"])
        district = split_kind(r["district"], DISTRICT_KINDS, r["districtType"])
        parent = (System.LEGACY, Level.PROVINCE, pcode)
        # Island districts had no wards; the converter names them "province_district_".
        dkey = f"{r['provinceKey']}_{r['districtKey']}_"
        yield _unit(System.LEGACY, Level.DISTRICT, dcode, district, pcode, parent, dkey)
        if r["wardCode"] is None:
            continue
        ward = split_kind(r["ward"], WARD_KINDS, r["wardType"])
        parent = (System.LEGACY, Level.DISTRICT, dcode)
        wkey = dkey + r["wardKey"]
        yield _unit(System.LEGACY, Level.WARD, r["wardCode"], ward, pcode, parent, wkey)


def _converter_pairs(converter: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(legacy key, current key, is_default) for every old→new link in converter_2025.json."""
    for new_province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, old_keys in wards.items():
            for old_key in old_keys:
                yield old_key, f"{new_province}_{new_ward}", True
    for new_province, old_wards in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, targets in old_wards.items():
            for target in targets:
                new_key = f"{new_province}_{target['newWardKey']}"
                yield old_key, new_key, bool(target["isDefaultNewWard"])


def read_source() -> Source:
    """Read units and successions from the installed package, de-duplicated, NFC."""
    con = sqlite3.connect(f"{dataset_path().as_uri()}?mode=ro", uri=True)
    try:
        found: dict[Key, Unit] = {}
        for unit in (*_current_units(con), *_legacy_units(con)):
            found.setdefault(unit.key, unit)
    finally:
        con.close()
    converter_file = package_dir() / "data" / "converter_2025.json"
    converter = json.loads(converter_file.read_text(encoding="utf-8"))
    return Source(
        version=importlib.metadata.version(PACKAGE),
        units=list(found.values()),
        successions=list(_converter_pairs(converter)),
    )


# --- Writing places ----------------------------------------------------------------


def _depth(unit: Unit) -> int:
    return {Level.PROVINCE: 0, Level.DISTRICT: 1, Level.WARD: 2}[Level(unit.level)]


def _batches(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _new_place(unit: Unit, ids: dict[Key, int]) -> Place:
    return Place(
        system=unit.system,
        level=unit.level,
        code=unit.code,
        name=unit.name,
        short_name=unit.short_name,
        kind=unit.kind,
        name_folded=fold(unit.name),
        parent_id=ids[unit.parent] if unit.parent else None,
        path="",  # needs the id; set right after the insert
        province_code=unit.province_code,
    )


def _wanted(unit: Unit, pk: int, ids: dict[Key, int], paths: dict[int, str]) -> dict[str, object]:
    parent_id = ids[unit.parent] if unit.parent else None
    prefix = paths[parent_id] if parent_id is not None else "/"
    return {
        "name": unit.name,
        "short_name": unit.short_name,
        "kind": unit.kind,
        "name_folded": fold(unit.name),
        "parent_id": parent_id,
        "path": f"{prefix}{pk}/",
        "province_code": unit.province_code,
    }


class _PlaceSync:
    """Upsert loaded places level by level, so parents have ids and paths first."""

    def __init__(self, report: LoadReport) -> None:
        self.report = report
        self.existing = {
            (p.system, p.level, p.code): p for p in Place.objects.exclude(level=Level.HAMLET)
        }
        self.ids: dict[Key, int] = {}
        self.paths: dict[int, str] = {}
        # old path -> (new path, province code) of loaded places that moved, for hamlets
        self.moved: dict[str, tuple[str, str]] = {}

    def run(self, units: list[Unit]) -> dict[Key, int]:
        by_depth: dict[int, list[Unit]] = defaultdict(list)
        for unit in units:
            by_depth[_depth(unit)].append(unit)
        for depth in sorted(by_depth):
            self._level(by_depth[depth])
        self.report.stale = len(self.existing.keys() - {u.key for u in units})
        self.report.updated += _repath_hamlets(self.moved)
        return self.ids

    def _level(self, units: list[Unit]) -> None:
        new = [_new_place(u, self.ids) for u in units if u.key not in self.existing]
        Place.objects.bulk_create(new, batch_size=BATCH_SIZE)
        _ensure_pks(new)
        self.report.created += len(new)
        created = {(p.system, p.level, p.code): p for p in new}
        changes: dict[tuple[str, ...], list[Place]] = defaultdict(list)
        for unit in units:
            place = created.get(unit.key) or self.existing[unit.key]
            changed = self._apply(unit, place)
            if unit.key in created:
                changes[("path",)].append(place)
            elif changed:
                changes[changed].append(place)
                self.report.updated += 1
        for fields, places in changes.items():
            Place.objects.bulk_update(places, list(fields), batch_size=BATCH_SIZE)

    def _apply(self, unit: Unit, place: Place) -> tuple[str, ...]:
        """Set the wanted values on `place`; return the names of the fields that changed."""
        wanted = _wanted(unit, place.pk, self.ids, self.paths)
        changed = tuple(f for f in PLACE_FIELDS if getattr(place, f) != wanted[f])
        if "path" in changed and place.path:
            self.moved[place.path] = (str(wanted["path"]), unit.province_code)
        for name in changed:
            setattr(place, name, wanted[name])
        self.ids[unit.key] = place.pk
        self.paths[place.pk] = place.path
        return changed


def _ensure_pks(places: list[Place]) -> None:
    """Fill in ids where a bulk insert did not return them (SQLite 3.35+ and PostgreSQL do)."""
    missing = {(p.system, p.level, p.code): p for p in places if p.pk is None}
    for system, level in {key[:2] for key in missing}:
        rows = Place.objects.filter(system=system, level=level).values_list("code", "pk")
        for code, pk in rows:
            place = missing.get((system, level, code))
            if place is not None:
                place.pk = pk


def _repath_hamlets(moved: dict[str, tuple[str, str]]) -> int:
    """Keep hamlets' paths and province codes true when a loaded place above them moved.

    Returns how many hamlets were rewritten. Only happens when the source moved a unit.
    """
    if not moved:
        return 0
    prefixes = sorted(moved, key=len, reverse=True)
    hamlets: list[Place] = []
    for chunk in _batches(prefixes, 100):
        match = Q()
        for prefix in chunk:
            match |= Q(path__startswith=prefix)
        hamlets.extend(Place.objects.filter(match, level=Level.HAMLET))
    for hamlet in hamlets:
        old = next(p for p in prefixes if hamlet.path.startswith(p))
        new_path, hamlet.province_code = moved[old]
        hamlet.path = new_path + hamlet.path[len(old) :]
    Place.objects.bulk_update(hamlets, ["path", "province_code"], batch_size=BATCH_SIZE)
    return len(hamlets)


# --- Writing successions and provenance --------------------------------------------


def _wanted_successions(
    source: Source, ids: dict[Key, int], report: LoadReport
) -> dict[tuple[int, int], bool]:
    units = [u for u in source.units if u.level != Level.PROVINCE]
    by_key = {(u.system, u.source_key): ids[u.key] for u in units}
    wanted: dict[tuple[int, int], bool] = {}
    for old_key, new_key, is_default in source.successions:
        legacy = by_key.get((System.LEGACY, old_key))
        current = by_key.get((System.CURRENT, new_key))
        if legacy is None or current is None:
            report.unresolved += 1
            continue
        wanted[(legacy, current)] = wanted.get((legacy, current), False) or is_default
    legacy_wards = {ids[u.key] for u in units if u.key[:2] == (System.LEGACY, Level.WARD)}
    report.unmatched = len(legacy_wards - {legacy for legacy, _ in wanted})
    report.successions = len(wanted)
    return wanted


def _sync_successions(source: Source, ids: dict[Key, int], report: LoadReport) -> None:
    wanted = _wanted_successions(source, ids, report)
    owned = PlaceSuccession.objects.filter(legacy__system=System.LEGACY).exclude(
        legacy__level=Level.HAMLET
    )
    existing = {(s.legacy_id, s.current_id): s for s in owned}
    new = [
        PlaceSuccession(legacy_id=legacy, current_id=current, is_default=is_default)
        for (legacy, current), is_default in wanted.items()
        if (legacy, current) not in existing
    ]
    PlaceSuccession.objects.bulk_create(new, batch_size=BATCH_SIZE)
    changed = [s for pair, s in existing.items() if pair in wanted and s.is_default != wanted[pair]]
    for succession in changed:
        succession.is_default = not succession.is_default
    PlaceSuccession.objects.bulk_update(changed, ["is_default"], batch_size=BATCH_SIZE)
    gone = [s.pk for pair, s in existing.items() if pair not in wanted]
    for chunk in _batches(gone):
        PlaceSuccession.objects.filter(pk__in=chunk).delete()
    report.created += len(new)
    report.updated += len(changed)
    report.deleted += len(gone)


def _record_source(source: Source, report: LoadReport) -> None:
    """Upsert the provenance row; `loaded_at` moves only when the data changed."""
    values: dict[str, Any] = {
        "version": source.version,
        "licence": PACKAGE_LICENCE,
        "url": PACKAGE_URL,
        "current_units": report.provinces_current + report.wards_current,
        "legacy_units": report.provinces_legacy + report.districts_legacy + report.wards_legacy,
        "successions": report.successions,
    }
    row = DataSource.objects.filter(name=PACKAGE).first()
    if row is None:
        DataSource.objects.create(name=PACKAGE, loaded_at=timezone.now(), **values)
        return
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if changed or report.created or report.updated or report.deleted:
        for name, value in values.items():
            setattr(row, name, value)
        row.loaded_at = timezone.now()
        row.save(update_fields=[*values, "loaded_at"])


def _count_source(units: Iterable[Unit], report: LoadReport) -> None:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for unit in units:
        counts[(unit.system, unit.level)] += 1
    report.provinces_current = counts[(System.CURRENT, Level.PROVINCE)]
    report.wards_current = counts[(System.CURRENT, Level.WARD)]
    report.provinces_legacy = counts[(System.LEGACY, Level.PROVINCE)]
    report.districts_legacy = counts[(System.LEGACY, Level.DISTRICT)]
    report.wards_legacy = counts[(System.LEGACY, Level.WARD)]


def _warn(report: LoadReport) -> None:
    if report.unmatched:
        report.warnings.append(f"{report.unmatched} legacy wards have no current successor.")
    if report.unresolved:
        report.warnings.append(
            f"{report.unresolved} converter entries name a unit missing from the dataset."
        )
    if report.stale:
        report.warnings.append(
            f"{report.stale} loaded places are no longer in the source; they were kept."
        )


def _analyze() -> None:
    """Fresh planner statistics: scope filters join people to places by path, and a
    stale estimate ("one ward") once turned a 30 ms search into 3.6 s."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Place._meta.db_table}")


def load_places(*, stdout: Writer | None = None) -> LoadReport:
    """Load current and legacy units and the 2025 successions from `vietnamadminunits`.

    Idempotent, in one transaction, with bulk statements only: existing rows are
    matched on (system, level, code) and only changed fields are written. Hamlets are
    never created or deleted; only their paths follow a ward that moved. Places the
    source no longer lists are kept (people may point at them) and counted as stale;
    successions it no longer lists are deleted. Warnings go to `stdout`.
    """
    source = read_source()
    report = LoadReport()
    _count_source(source.units, report)
    with transaction.atomic():
        ids = _PlaceSync(report).run(source.units)
        _sync_successions(source, ids, report)
        _record_source(source, report)
    _analyze()
    _warn(report)
    if stdout is not None:
        for warning in report.warnings:
            stdout.write(f"Warning: {warning}\n")
    return report
