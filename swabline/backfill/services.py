"""Writes of the paper backfill: late entry of paper tubes, the paper backlog.

Every function takes keyword arguments, checks the caller's permission
(`BACKFILL_SAMPLES` on the site) and runs in one transaction with its audit event
inside it.

A paper tube is entered in one of two situations:

- its label was never used here (the tube is still at the site, or on its way):
  the tube is made with its people and closed at once, like a station's tube, and
  then packed and shipped as usual;
- the lab already received it by its label with nobody in it (*names missing*,
  `Tube.names_missing_since`, see `swabline.shipping.services`): its people are
  added to it where it stands (received or resulted), the mark is cleared, and the
  tube rejoins the normal flow — an entered result can then be released. The
  sampling triggers allow exactly this insert, and on PostgreSQL only while this
  module has set `swabline.backfill` for the transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.backfill.enums import EntrySource
from swabline.backfill.models import MAX_SHEET_REF, BackfillUpload, LateEntry, PaperBacklog
from swabline.campaigns.models import Site
from swabline.people.models import Person
from swabline.sampling.codes import is_valid_damm, looks_generated, normalize_tube_code
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube, TubeLabel

MAX_BACKLOG = 100_000
# A paper time a little ahead of the server's clock is a clock, not a mistake.
CLOCK_SKEW = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class PaperTube:
    """One tube as written on paper: its label, site, sheet, time and people."""

    code: str
    collected_at: dt.datetime
    sheet_ref: str
    people: Sequence[Person]


@dataclass(frozen=True)
class Entered:
    entry: LateEntry
    replayed: bool = False
    # The tube was at the lab without names and already has a result to release.
    releasable: bool = False


def require_backfill(by: Any, site: Site) -> None:
    if not has_permission(by, Permission.BACKFILL_SAMPLES, site):
        raise PermissionDenied(_("You may not enter paper tubes for this site."))


def enter_paper_tube(
    *,
    by: Any,
    site: Site,
    paper: PaperTube,
    client_id: uuid.UUID | None = None,
    duration_seconds: float | None = None,
    source: str = EntrySource.SCREEN,
    upload: BackfillUpload | None = None,
) -> Entered:
    """Enter the paper tube `paper` collected at `site` (a late entry).

    Idempotent on `client_id`: the same id again answers the first entry. Raises
    `PermissionDenied` unless `by` may backfill at `site`, `ValidationError` (per
    field: `code`, `collected_at`, `sheet_ref`, `people`) for bad input; nothing is
    written then. Side effects, in one transaction: the tube (made and closed, or the
    names-missing tube completed), one sample per person (collected at the paper's
    time, by `by`), the label marked used, a `LateEntry`, an audit event
    `backfill.entered` carrying the sheet reference."""
    require_backfill(by, site)
    if client_id is not None:
        earlier = _replay(client_id, site)
        if earlier is not None:
            return earlier
    code, clean_errors = _clean(paper)
    with transaction.atomic():
        tube = Tube.objects.select_for_update().filter(code=code).first() if code else None
        errors = dict(clean_errors)
        label = None
        if code and tube is None:
            label = TubeLabel.objects.select_for_update().filter(code=code).first()
        if code and "code" not in errors:
            problem = _tube_problem(site, code, tube, label)
            if problem:
                errors["code"] = [problem]
        people = list(paper.people)
        if people and "people" not in errors:
            problem = _people_problem(by, site, people, tube)
            if problem:
                errors["people"] = [problem]
        if errors:
            raise ValidationError(errors)
        assert code is not None
        now = timezone.now()
        names_missing_since = tube.names_missing_since if tube is not None else None
        if tube is None:
            tube = _new_closed_tube(by, site, code, paper, people, now)
            if label is not None:
                TubeLabel.objects.filter(pk=label.pk).update(used_at=now)
        else:
            _complete_names_missing(by, tube, paper, people)
        try:
            with transaction.atomic():
                entry = LateEntry.objects.create(
                    tube=tube,
                    campaign_id=site.campaign_id,
                    site=site,
                    sheet_ref=paper.sheet_ref.strip(),
                    collected_at=paper.collected_at,
                    people=len(people),
                    entered_by=by,
                    entered_at=now,
                    duration_seconds=duration_seconds,
                    names_missing_since=names_missing_since,
                    source=source,
                    client_id=client_id,
                    upload=upload,
                )
        except IntegrityError as exc:
            raise ValidationError(
                {"code": [_("This tube was just entered by someone else.")]}
            ) from exc
        audit.record(
            by=by,
            action="backfill.entered",
            subject=entry,
            province_code=site.province_code,
            tube=tube.code,
            sheet_ref=entry.sheet_ref,
            people=len(people),
            names_missing=names_missing_since is not None,
            source=source,
        )
    releasable = names_missing_since is not None and tube.status == TubeStatus.RESULTED
    return Entered(entry, releasable=releasable)


def _replay(client_id: uuid.UUID, site: Site) -> Entered | None:
    earlier = LateEntry.objects.select_related("tube").filter(client_id=client_id).first()
    if earlier is None:
        return None
    if earlier.site_id != site.pk:
        raise ValidationError(_("This request id was already used for another site."))
    return Entered(earlier, replayed=True)


def _clean(paper: PaperTube) -> tuple[str | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    code = normalize_tube_code(paper.code or "")
    if not code:
        errors["code"] = [_("Scan or type the tube's label.")]
    elif looks_generated(code) and not is_valid_damm(code):
        errors["code"] = [_("This label's check digit is wrong: a digit was mistyped.")]
    sheet = (paper.sheet_ref or "").strip()
    if not sheet:
        errors["sheet_ref"] = [_("Type the paper sheet's reference.")]
    elif len(sheet) > MAX_SHEET_REF:
        errors["sheet_ref"] = [_("The sheet reference is too long.")]
    if paper.collected_at is None:
        errors["collected_at"] = [_("Type when the paper says the tube was collected.")]
    elif paper.collected_at > timezone.now() + CLOCK_SKEW:
        errors["collected_at"] = [_("The collection time is in the future.")]
    people = list(paper.people)
    if not people:
        errors["people"] = [_("Enter at least one person.")]
    elif len({p.pk for p in people}) != len(people):
        errors["people"] = [_("The same person is twice in this tube.")]
    return code or None, errors


def _tube_problem(site: Site, code: str, tube: Tube | None, label: TubeLabel | None) -> str:
    if tube is not None:
        if tube.names_missing_since is None:
            return _("Tube %(code)s already has its people.") % {"code": code}
        if tube.campaign_id != site.campaign_id:
            return _("Tube %(code)s belongs to another campaign.") % {"code": code}
        if tube.site_id != site.pk:
            return _("Tube %(code)s was issued to another site.") % {"code": code}
        return ""
    if label is None:
        return _("No label %(code)s was issued: check the code.") % {"code": code}
    if label.campaign_id != site.campaign_id:
        return _("Label %(code)s belongs to another campaign.") % {"code": code}
    if label.site_id is not None and label.site_id != site.pk:
        return _("Label %(code)s was issued to another site.") % {"code": code}
    if label.used_at is not None:
        return _("Label %(code)s was already used.") % {"code": code}
    return ""


def _people_problem(by: Any, site: Site, people: list[Person], tube: Tube | None) -> str:
    limit = tube.pool_limit if tube is not None else site.campaign.pool_size_limit
    if len(people) > limit:
        return _("A tube holds at most %(n)d people.") % {"n": limit}
    for person in people:
        if person.merged_into_id is not None:
            return _("%(name)s was merged into another record.") % {"name": person.full_name}
        if not has_permission(by, Permission.VIEW_PEOPLE, person):
            return _("%(name)s is not in your places.") % {"name": person.full_name}
    taken = (
        Sample.objects.filter(
            person__in=people,
            campaign_id=site.campaign_id,
            active=True,
            kind=SampleKind.NORMAL,
        )
        .select_related("person", "tube")
        .first()
    )
    if taken is not None:
        return _("%(name)s was already sampled in tube %(code)s.") % {
            "name": taken.person.full_name,
            "code": taken.tube.code,
        }
    return ""


def _samples(by: Any, tube: Tube, paper: PaperTube, people: list[Person]) -> list[Sample]:
    return [
        Sample(
            tube=tube,
            person=person,
            campaign_id=tube.campaign_id,
            position=position,
            kind=SampleKind.NORMAL,
            collected_at=paper.collected_at,
            collected_by=by,
            client_event_id=uuid.uuid4(),
            province_code=tube.province_code,
        )
        for position, person in enumerate(people, start=1)
    ]


def _new_closed_tube(
    by: Any, site: Site, code: str, paper: PaperTube, people: list[Person], now: dt.datetime
) -> Tube:
    limit = site.campaign.pool_size_limit
    tube = Tube(
        code=code,
        campaign_id=site.campaign_id,
        site=site,
        kind=TubeKind.POOL if limit > 1 else TubeKind.INDIVIDUAL,
        pool_limit=limit,
        status=TubeStatus.OPEN,
        opened_by=by,
        opened_at=now,
        client_opened_at=paper.collected_at,
    )
    tube.save()
    Sample.objects.bulk_create(_samples(by, tube, paper, people))
    Tube.objects.filter(pk=tube.pk, status=TubeStatus.OPEN).update(
        member_count=len(people), status=TubeStatus.CLOSED, closed_at=now
    )
    tube.member_count, tube.status, tube.closed_at = len(people), TubeStatus.CLOSED, now
    return tube


def _complete_names_missing(by: Any, tube: Tube, paper: PaperTube, people: list[Person]) -> None:
    """The one path that adds members to a tube that is no longer open."""
    _allow_backfill(True)
    try:
        Sample.objects.bulk_create(_samples(by, tube, paper, people))
    finally:
        _allow_backfill(False)
    Tube.objects.filter(pk=tube.pk, names_missing_since__isnull=False).update(
        member_count=F("member_count") + len(people), names_missing_since=None
    )
    tube.refresh_from_db(fields=["member_count", "names_missing_since", "status"])
    from swabline.shipping.enums import DiscrepancyKind
    from swabline.shipping.models import ReceiptDiscrepancy

    ReceiptDiscrepancy.objects.filter(
        tube=tube, kind=DiscrepancyKind.NAMES_MISSING, resolved_at__isnull=True
    ).update(resolved_at=timezone.now(), note=_("Names entered from the paper list."))


def _allow_backfill(on: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('swabline.backfill', %s, true)", ["on" if on else "off"]
            )


# --- Many paper tubes at once (the spreadsheet) -----------------------------------------


def enter_paper_tubes(
    *,
    by: Any,
    site: Site,
    papers: Sequence[PaperTube],
    source: str = EntrySource.XLSX,
    upload: BackfillUpload | None = None,
) -> tuple[list[LateEntry], dict[int, dict[str, list[str]]]]:
    """Enter many paper tubes of `site` at once, all or nothing, set-based: a fixed
    number of queries whatever the number of tubes and people.

    Every tube is checked first, with the same rules as `enter_paper_tube` (plus: a
    label or a person only once in the batch). Returns (entries, {}) when written, or
    ([], {index in `papers`: {field: [messages]}}) with nothing written. Side effects
    when written, in one transaction: tubes made and closed or names-missing tubes
    completed, their samples, labels marked used, names-missing discrepancies
    resolved, one `LateEntry` per tube, one audit event `backfill.entered_batch`
    listing every tube with its sheet reference."""
    require_backfill(by, site)
    errors: dict[int, dict[str, list[str]]] = {}
    codes: list[str | None] = []
    for index, paper in enumerate(papers):
        code, clean_errors = _clean(paper)
        codes.append(code)
        if clean_errors:
            errors[index] = dict(clean_errors)
    seen_codes: dict[str, int] = {}
    seen_people: dict[int, int] = {}
    for index, (code, paper) in enumerate(zip(codes, papers, strict=True)):
        if code is not None and seen_codes.setdefault(code, index) != index:
            errors.setdefault(index, {}).setdefault("code", []).append(
                _("Tube %(code)s is twice in this file.") % {"code": code}
            )
        for person in paper.people:
            if seen_people.setdefault(person.pk, index) != index:
                errors.setdefault(index, {}).setdefault("people", []).append(
                    _("%(name)s is in two tubes of this file.") % {"name": person.full_name}
                )
    wanted = [c for c in codes if c]
    everyone = [p for paper in papers for p in paper.people]
    with transaction.atomic():
        tubes = {t.code: t for t in Tube.objects.select_for_update().filter(code__in=wanted)}
        labels = {
            lab.code: lab for lab in TubeLabel.objects.select_for_update().filter(code__in=wanted)
        }
        taken = dict(
            Sample.objects.filter(
                person__in=everyone,
                campaign_id=site.campaign_id,
                active=True,
                kind=SampleKind.NORMAL,
            ).values_list("person_id", "tube__code")
        )
        for index, (code, paper) in enumerate(zip(codes, papers, strict=True)):
            if code is None:
                continue
            tube = tubes.get(code)
            problem = _tube_problem(site, code, tube, labels.get(code))
            if problem:
                errors.setdefault(index, {}).setdefault("code", []).append(problem)
            problem = _people_problem_known(by, site, list(paper.people), tube, taken)
            if problem:
                errors.setdefault(index, {}).setdefault("people", []).append(problem)
        if errors:
            return [], errors
        return _write_batch(
            by, site, list(papers), [c or "" for c in codes], tubes, source, upload
        ), {}


def _people_problem_known(
    by: Any, site: Site, people: list[Person], tube: Tube | None, taken: dict[int, str]
) -> str:
    limit = tube.pool_limit if tube is not None else site.campaign.pool_size_limit
    if len(people) > limit:
        return _("A tube holds at most %(n)d people.") % {"n": limit}
    for person in people:
        if person.merged_into_id is not None:
            return _("%(name)s was merged into another record.") % {"name": person.full_name}
        if not has_permission(by, Permission.VIEW_PEOPLE, person):
            return _("%(name)s is not in your places.") % {"name": person.full_name}
        if person.pk in taken:
            return _("%(name)s was already sampled in tube %(code)s.") % {
                "name": person.full_name,
                "code": taken[person.pk],
            }
    return ""


def _write_batch(
    by: Any,
    site: Site,
    papers: list[PaperTube],
    codes: list[str],
    existing: dict[str, Tube],
    source: str,
    upload: BackfillUpload | None,
) -> list[LateEntry]:
    from django.db.models import Case, IntegerField, Value, When

    from swabline.shipping.enums import DiscrepancyKind
    from swabline.shipping.models import ReceiptDiscrepancy

    now = timezone.now()
    limit = site.campaign.pool_size_limit
    fresh = [
        Tube(
            code=code,
            campaign_id=site.campaign_id,
            site=site,
            province_code=site.province_code,
            kind=TubeKind.POOL if limit > 1 else TubeKind.INDIVIDUAL,
            pool_limit=limit,
            status=TubeStatus.OPEN,
            opened_by=by,
            opened_at=now,
            client_opened_at=paper.collected_at,
        )
        for code, paper in zip(codes, papers, strict=True)
        if code not in existing
    ]
    Tube.objects.bulk_create(fresh)
    tube_of = {**existing, **{t.code: t for t in fresh}}
    samples = [
        sample
        for code, paper in zip(codes, papers, strict=True)
        for sample in _samples(by, tube_of[code], paper, list(paper.people))
    ]
    waiting = [t for t in existing.values() if t.names_missing_since is not None]
    _allow_backfill(bool(waiting))
    try:
        Sample.objects.bulk_create(samples)
    finally:
        _allow_backfill(False)
    counts = {
        tube_of[code].pk: len(paper.people) for code, paper in zip(codes, papers, strict=True)
    }

    def count_case(ids: list[int]) -> Case:
        return Case(
            *[When(pk=pk, then=Value(counts[pk])) for pk in ids],
            output_field=IntegerField(),
        )

    if fresh:
        ids = [t.pk for t in fresh]
        Tube.objects.filter(pk__in=ids, status=TubeStatus.OPEN).update(
            member_count=count_case(ids), status=TubeStatus.CLOSED, closed_at=now
        )
        TubeLabel.objects.filter(code__in=[t.code for t in fresh]).update(used_at=now)
    if waiting:
        ids = [t.pk for t in waiting]
        Tube.objects.filter(pk__in=ids, names_missing_since__isnull=False).update(
            member_count=count_case(ids), names_missing_since=None
        )
        ReceiptDiscrepancy.objects.filter(
            tube_id__in=ids, kind=DiscrepancyKind.NAMES_MISSING, resolved_at__isnull=True
        ).update(resolved_at=now, note=_("Names entered from the paper list."))
    entries = [
        LateEntry(
            tube=tube_of[code],
            campaign_id=site.campaign_id,
            site=site,
            province_code=site.province_code,
            sheet_ref=paper.sheet_ref.strip(),
            collected_at=paper.collected_at,
            people=len(paper.people),
            entered_by=by,
            entered_at=now,
            names_missing_since=existing[code].names_missing_since if code in existing else None,
            source=source,
            upload=upload,
        )
        for code, paper in zip(codes, papers, strict=True)
    ]
    LateEntry.objects.bulk_create(entries)
    audit.record(
        by=by,
        action="backfill.entered_batch",
        subject=upload or site,
        province_code=site.province_code,
        tubes=[[e.tube.code, e.sheet_ref, e.people] for e in entries],
        names_missing=[t.code for t in waiting],
        source=source,
    )
    return entries


# --- The paper backlog ----------------------------------------------------------------


def declare_backlog(*, by: Any, site: Site, tubes: int, note: str = "") -> PaperBacklog:
    """The site says `tubes` paper tubes are collected and not entered yet (the newest
    declaration counts; entries made after it are taken off). Side effects: one
    `PaperBacklog`, audit `backfill.backlog_declared`."""
    require_backfill(by, site)
    if not 0 <= tubes <= MAX_BACKLOG:
        raise ValidationError({"tubes": [_("Between 0 and %(max)d tubes.") % {"max": MAX_BACKLOG}]})
    with transaction.atomic():
        declaration = PaperBacklog.objects.create(
            campaign_id=site.campaign_id,
            site=site,
            tubes=tubes,
            note=note.strip()[:300],
            declared_by=by,
        )
        audit.record(
            by=by,
            action="backfill.backlog_declared",
            subject=declaration,
            province_code=site.province_code,
            tubes=tubes,
        )
    return declaration
