"""Capture services and the sync engine behind them: fates, order, idempotency,
access, scans, transitions."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone, translation

from swabline.audit.models import AuditEvent
from swabline.campaigns import enums as campaign_enums
from swabline.people import qr
from swabline.people.cccd import CccdCard, format_cccd
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Person
from swabline.people.services import PersonInput
from swabline.sampling import services
from swabline.sampling.enums import (
    ALLOWED_TRANSITIONS,
    EventType,
    SampleKind,
    TubeKind,
    TubeStatus,
)
from swabline.sampling.models import DeviceSync, Sample, SamplingSettings, StationEvent, Tube
from swabline.sampling.services import InvalidTransition, ScanError
from tests.sampling.factories import (
    add_event,
    apply,
    event,
    fates,
    fresh_code,
    labels,
    open_event,
    people,
    scan_of,
)

pytestmark = pytest.mark.django_db

APPLIED, DUPLICATE, CONFLICT = "applied", "duplicate", "conflict"


def open_tube(world, code=None, *, site=None, kind=TubeKind.POOL):
    code = code or labels(world, site=site)[0]
    [result] = apply(world, [open_event(code, kind=kind)], site=site, user="admin")
    assert result.fate == APPLIED, result.reason
    return Tube.objects.select_related("site__ward").get(code=code)


def members(tube):
    return list(
        Sample.objects.filter(tube=tube, active=True)
        .order_by("position")
        .values_list("position", "person__full_name")
    )


# --- Opening tubes ---------------------------------------------------------------


def test_open_tube_takes_the_campaign_limit_and_uses_the_label(world):
    [code] = labels(world)
    now = timezone.now()
    result = services.open_tube(
        by=world.users["sampler_a"], site=world.site_a, code=f" {code[:6]} {code[6:]}\n",
        at=now, event_id=uuid.uuid4(),
    )  # fmt: skip
    assert (result.fate, result.reason) == (APPLIED, "")
    assert result.tube is not None and result.tube.count == 0 and result.tube.limit == 10
    with translation.override("en"):
        assert result.message == f"Tube {code} opened: 0/10."
    tube = Tube.objects.get(code=code)
    assert (tube.kind, tube.status, tube.pool_limit, tube.member_count) == ("pool", "open", 10, 0)
    assert tube.site == world.site_a and tube.opened_by == world.users["sampler_a"]
    assert tube.client_opened_at == now and tube.province_code == world.province.province_code
    assert AuditEvent.objects.filter(action="tube.opened", subject_id=str(tube.pk)).count() == 1
    assert world.site_a.label_batches.get().labels.get().used_at is not None


def test_individual_tubes_hold_one_person(world):
    tube = open_tube(world, kind=TubeKind.INDIVIDUAL)
    assert tube.pool_limit == 1


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("123456789010", "label_check"),  # a generated shape whose check digit is wrong
        ("VN12345678", "label_unknown"),  # no supplier pattern set
        ("SW1:ABC", "label_unknown"),
    ],
)
def test_labels_that_were_not_issued_are_refused(world, code, reason):
    [result] = apply(world, [open_event(code)])
    assert fates([result]) == [(CONFLICT, reason)]
    assert not Tube.objects.exists()


def test_a_valid_code_that_was_never_issued_is_refused(world):
    [result] = apply(world, [open_event(fresh_code())])
    assert fates([result]) == [(CONFLICT, "label_unknown")]


def test_supplier_labels_are_accepted_by_the_campaign_pattern(world):
    SamplingSettings.objects.create(campaign=world.campaign, label_pattern=r"VN[0-9]{8}")
    results = apply(world, [open_event("vn12345678"), open_event("VN1234567")])
    assert fates(results) == [(APPLIED, ""), (CONFLICT, "label_unknown")]
    assert Tube.objects.get().code == "VN12345678"


def test_a_label_is_used_once(world):
    tube = open_tube(world)
    again = apply(world, [open_event(tube.code)], site=world.site_b, user="admin")
    assert fates(again) == [(CONFLICT, "label_used")]
    assert again[0].params["site"] == "Điểm A"


def test_labels_of_another_site_open_with_a_notice(world):
    [code] = labels(world, site=world.site_b)
    assert fates(apply(world, [open_event(code)])) == [(APPLIED, "label_other_site")]


def test_an_individual_campaign_refuses_pools(world):
    world.campaign.test_type = campaign_enums.TestType.RT_PCR_INDIVIDUAL
    world.campaign.save(update_fields=["test_type"])
    a, b = labels(world, 2)
    results = apply(world, [open_event(a), open_event(b, kind=TubeKind.INDIVIDUAL)])
    assert fates(results) == [(CONFLICT, "pool_not_allowed"), (APPLIED, "")]


# --- Adding people -----------------------------------------------------------------


def test_add_person_fills_the_tube_in_order_and_closes_it_when_full(world):
    tube = open_tube(world)
    crowd = people(world, 11)
    Person.objects.filter(pk=crowd[0].pk).update(full_name="Nguyễn Thị Bích Ngọc", birth_year=1961)
    crowd[0].refresh_from_db()
    results = apply(world, [add_event(tube.code, p) for p in crowd])
    assert fates(results) == [(APPLIED, "")] * 9 + [
        (APPLIED, "tube_full_closed"),
        (CONFLICT, "tube_closed"),
    ]
    assert [r.tube.count for r in results[:10] if r.tube] == list(range(1, 11))
    first = results[0]
    assert first.person is not None
    assert first.person.public_id == crowd[0].public_id
    assert first.person.display == "Nguyễn T. B. N."
    with translation.override("en"):
        assert first.message == "Nguyễn T. B. N., 1961 — 1/10."
        assert results[9].message.endswith("The tube is full and now closed.")
        assert results[10].message == f"Tube {tube.code} is closed: its people cannot change."
    tube.refresh_from_db()
    assert (tube.status, tube.member_count) == ("closed", 10)
    assert tube.closed_at is not None
    assert [p for p, _ in members(tube)] == list(range(1, 11))
    closing = AuditEvent.objects.get(action="tube.closed")
    assert closing.data["auto"] is True and closing.data["from"] == "open"


def test_the_same_person_twice_in_a_tube_is_a_no_op(world):
    tube = open_tube(world)
    [person] = people(world, 1)
    results = apply(world, [add_event(tube.code, person), add_event(tube.code, person)])
    assert fates(results) == [(APPLIED, ""), (DUPLICATE, "already_in_tube")]
    with translation.override("en"):
        assert results[1].message.endswith("is already in this tube (number 1).")
    assert Tube.objects.get().member_count == 1


def test_someone_sampled_at_another_site_is_a_conflict_unless_overridden(world):
    tube_b = open_tube(world, site=world.site_b)
    tube_a = open_tube(world)
    [person] = people(world, 1)
    apply(world, [add_event(tube_b.code, person)], site=world.site_b, user="admin")
    device = str(uuid.uuid4())
    [conflict] = apply(world, [add_event(tube_a.code, person)], device=device)
    assert fates([conflict]) == [(CONFLICT, "already_sampled")]
    assert conflict.person is not None and conflict.person.public_id == person.public_id
    assert conflict.params["other_tube"] == tube_b.code
    assert conflict.params["other_site"] == "Điểm B"
    stored = StationEvent.objects.get(client_event_id=conflict.id)
    assert (stored.fate, stored.reason, stored.person_id) == (
        CONFLICT,
        "already_sampled",
        person.pk,
    )
    assert DeviceSync.objects.get(device_id=device).pending_conflicts == 1

    resolve = add_event(tube_a.code, person, override=True, resolves=conflict.id)
    [again] = apply(world, [resolve], device=device)
    assert fates([again]) == [(APPLIED, "override")]
    kinds = Sample.objects.filter(person=person, active=True).order_by("id")
    assert [s.kind for s in kinds] == [SampleKind.NORMAL, SampleKind.RECOLLECT]
    stored.refresh_from_db()
    assert stored.resolved_at is not None and stored.resolved_by == world.users["sampler_a"]
    assert DeviceSync.objects.get(device_id=device).pending_conflicts == 0
    assert AuditEvent.objects.filter(action="sample.override").count() == 1


def test_recall_and_recollection_need_an_override_until_recall_lists_exist(world):
    single = open_tube(world, kind=TubeKind.INDIVIDUAL)
    pool = open_tube(world)
    a, b = people(world, 2)
    results = apply(
        world,
        [
            add_event(single.code, a, kind=SampleKind.RECALL),
            add_event(pool.code, a, kind=SampleKind.RECALL, override=True),
            add_event(single.code, a, kind=SampleKind.RECALL, override=True),
            add_event(pool.code, b, kind="bogus"),
        ],
    )
    assert fates(results) == [
        (CONFLICT, "needs_override"),
        (CONFLICT, "recall_needs_individual"),
        (APPLIED, "tube_full_closed"),
        (CONFLICT, "invalid"),
    ]
    single.refresh_from_db()
    assert single.is_recall and single.status == TubeStatus.CLOSED


def test_scans_that_name_nobody_are_conflicts_with_the_reason(world):
    tube = open_tube(world)
    [person] = people(world, 1)
    payload = scan_of(person)
    telex = payload.replace("SW1", "SƯ1")
    altered = "1" if payload.endswith("0") else "0"  # a wrong check character
    results = apply(
        world,
        [
            event(EventType.ADD_PERSON, tube.code, scan=telex),
            event(EventType.ADD_PERSON, tube.code, scan=payload[:-1] + altered),
            event(EventType.ADD_PERSON, tube.code, scan="KKKK-KKKK"),
            event(EventType.ADD_PERSON, tube.code, scan=tube.code),
            event(EventType.ADD_PERSON, tube.code),
            event(EventType.ADD_PERSON, tube.code, person="no-such-public-id-0000"),
        ],
    )
    assert [r.reason for r in results] == [
        "scan_keyboard", "scan_invalid", "person_unknown", "scan_is_tube", "invalid",
        "person_unknown",
    ]  # fmt: skip
    with translation.override("en"):
        assert "Turn Vietnamese typing off" in results[0].message
        assert results[3].message == "This is a tube label, not a person's code."
    logged = StationEvent.objects.get(client_event_id=results[0].id)
    assert logged.payload["scan"] == "scan_keyboard"
    assert telex not in str(logged.payload)  # the scanned text is never stored


def test_the_log_keeps_what_kind_of_scan_it_was_but_not_the_text(world):
    tube = open_tube(world)
    [person] = people(world, 1)
    [result] = apply(world, [add_event(tube.code, person)])
    logged = StationEvent.objects.get(client_event_id=result.id)
    assert logged.payload == {
        "params": result.params,
        "scan": "qr_token",
        "seq": logged.payload["seq"],
    }
    assert person.qr_token not in str(logged.payload)


# --- Removing, closing, cancelling ---------------------------------------------------


def test_remove_last_undoes_the_last_scan(world):
    tube = open_tube(world)
    a, b = people(world, 2)
    results = apply(
        world,
        [
            add_event(tube.code, a),
            add_event(tube.code, b),
            event(EventType.REMOVE_LAST, tube.code, scan=scan_of(a)),  # a is not last
            event(EventType.REMOVE_LAST, tube.code, scan=scan_of(b)),
            event(EventType.REMOVE_LAST, tube.code, scan=scan_of(b)),  # already gone
            event(EventType.REMOVE_LAST, tube.code),
            event(EventType.REMOVE_LAST, tube.code),
        ],
    )
    assert fates(results) == [
        (APPLIED, ""),
        (APPLIED, ""),
        (CONFLICT, "not_last"),
        (APPLIED, ""),
        (DUPLICATE, "not_in_tube"),
        (APPLIED, ""),
        (CONFLICT, "tube_empty"),
    ]
    assert results[3].person is not None and results[3].person.public_id == b.public_id
    assert results[5].person is not None and results[5].person.public_id == a.public_id
    with translation.override("en"):
        assert (
            results[5].message
            == f"{results[5].person.display} removed from tube {tube.code}: 0/10."
        )
    removed = Sample.objects.filter(tube=tube).order_by("position")
    assert [(s.active, s.removed_at is not None) for s in removed] == [(False, True)] * 2
    assert Tube.objects.get().member_count == 0
    assert AuditEvent.objects.filter(action="sample.removed").count() == 2


def test_a_removed_person_can_go_into_another_tube_in_the_same_batch(world):
    first, second = open_tube(world), open_tube(world)
    [person] = people(world, 1)
    results = apply(
        world,
        [
            add_event(first.code, person),
            event(EventType.REMOVE_LAST, first.code),
            add_event(second.code, person),
        ],
    )
    assert fates(results) == [(APPLIED, "")] * 3
    assert members(second) == [(1, person.full_name)] and members(first) == []


def test_close_tube_and_close_again(world):
    tube = open_tube(world)
    empty = open_tube(world)
    [person] = people(world, 1)
    results = apply(
        world,
        [
            add_event(tube.code, person),
            event(EventType.CLOSE_TUBE, tube.code),
            event(EventType.CLOSE_TUBE, tube.code),
            event(EventType.CLOSE_TUBE, empty.code),
            event(EventType.REMOVE_LAST, tube.code),
        ],
    )
    assert fates(results) == [
        (APPLIED, ""),
        (APPLIED, ""),
        (DUPLICATE, "already_closed"),
        (CONFLICT, "tube_empty"),
        (CONFLICT, "tube_closed"),
    ]
    tube.refresh_from_db()
    assert (tube.status, tube.member_count) == ("closed", 1)


def test_void_tube_puts_its_people_back_to_not_sampled(world):
    tube = open_tube(world)
    other = open_tube(world, site=world.site_b)
    crowd = people(world, 3)
    apply(world, [add_event(tube.code, p) for p in crowd])
    results = apply(
        world,
        [
            event(EventType.VOID_TUBE, tube.code, reason="dropped"),
            event(EventType.VOID_TUBE, tube.code),
        ],
    )
    assert fates(results) == [(APPLIED, ""), (DUPLICATE, "already_void")]
    with translation.override("en"):
        assert results[0].message == f"Tube {tube.code} cancelled: its 3 people are not sampled."
    tube.refresh_from_db()
    assert (tube.status, tube.member_count, tube.voided_reason) == ("void", 0, "dropped")
    again = apply(world, [add_event(other.code, p) for p in crowd], site=world.site_b, user="admin")
    assert fates(again) == [(APPLIED, "")] * 3


# --- Replays, order, clocks, access ---------------------------------------------------


def test_an_event_is_applied_once_and_a_replay_answers_the_first_fate(world):
    tube = open_tube(world)
    [a] = people(world, 1)
    batch = [
        add_event(tube.code, a),
        add_event(tube.code, a),
        event(EventType.REMOVE_LAST, tube.code),
    ]
    first = apply(world, batch)
    assert fates(first) == [(APPLIED, ""), (DUPLICATE, "already_in_tube"), (APPLIED, "")]
    second = apply(world, [*batch, batch[0]])
    assert [(r.fate, r.reason, r.first_fate, r.first_reason) for r in second] == [
        (DUPLICATE, "replayed", APPLIED, ""),
        (DUPLICATE, "replayed", DUPLICATE, "already_in_tube"),
        (DUPLICATE, "replayed", APPLIED, ""),
        (DUPLICATE, "replayed", APPLIED, ""),
    ]
    assert second[0].person is not None and second[0].person.public_id == a.public_id
    with translation.override("en"):
        assert second[0].message == first[0].message
    assert Sample.objects.filter(active=True).count() == 0
    assert StationEvent.objects.filter(type=EventType.ADD_PERSON).count() == 2


def test_events_apply_in_the_stations_order_whatever_the_order_sent(world):
    [code] = labels(world)
    crowd = people(world, 4)
    batch = (
        [open_event(code)]
        + [add_event(code, p) for p in crowd]
        + [event(EventType.CLOSE_TUBE, code)]
    )
    shuffled = batch[:]
    random.Random(7).shuffle(shuffled)
    results = apply(world, shuffled)
    assert all(r.fate == APPLIED for r in results), fates(results)
    assert [r.id for r in results] == [e.id for e in shuffled]  # answered in the order sent
    assert [name for _, name in members(Tube.objects.get())] == [p.full_name for p in crowd]


def test_without_sequence_numbers_the_station_clock_orders(world):
    [code] = labels(world)
    crowd = people(world, 3)
    start = timezone.now() - dt.timedelta(minutes=5)
    batch = [open_event(code, at=start, seq=None)] + [
        add_event(code, p, at=start + dt.timedelta(seconds=10 * (i + 1)), seq=None)
        for i, p in enumerate(crowd)
    ]
    apply(world, list(reversed(batch)))
    assert [name for _, name in members(Tube.objects.get())] == [p.full_name for p in crowd]


def test_a_tube_not_yet_opened_is_answered_but_not_recorded(world):
    [code] = labels(world)
    [person] = people(world, 1)
    opening, early = open_event(code), add_event(code, person)
    assert fates(apply(world, [early])) == [(CONFLICT, "tube_unknown")]
    assert not StationEvent.objects.filter(client_event_id=early.id).exists()
    assert fates(apply(world, [early, opening])) == [(APPLIED, ""), (APPLIED, "")]


def test_clocks_more_than_a_day_ahead_or_before_the_campaign_are_refused(world):
    [code] = labels(world)
    now = timezone.now()
    results = apply(
        world,
        [
            open_event(code, at=now + dt.timedelta(days=2)),
            open_event(code, at=now - dt.timedelta(days=30)),
            open_event(code, at=(now + dt.timedelta(hours=20)).replace(tzinfo=None)),
        ],
    )
    assert fates(results) == [(CONFLICT, "clock"), (CONFLICT, "clock"), (APPLIED, "")]


def test_a_closed_campaign_takes_no_new_samples_but_tubes_can_be_closed(world):
    tube = open_tube(world)
    a, b = people(world, 2)
    apply(world, [add_event(tube.code, a)])
    world.campaign.status = campaign_enums.CampaignStatus.CLOSED
    world.campaign.save(update_fields=["status"])
    results = apply(world, [add_event(tube.code, b), event(EventType.CLOSE_TUBE, tube.code)])
    assert fates(results) == [(CONFLICT, "campaign_closed"), (APPLIED, "")]


def test_a_tube_of_another_site_is_refused(world):
    tube_b = open_tube(world, site=world.site_b)
    [person] = people(world, 1)
    results = apply(world, [add_event(tube_b.code, person)], user="admin")
    assert fates(results) == [(CONFLICT, "other_site")]
    assert results[0].tube is None  # nothing about another site's tube leaks


@pytest.mark.parametrize("user", ["ward_a", "dataentry_a", "labtech_a", "nobody"])
def test_only_samplers_of_the_site_capture(world, user):
    with pytest.raises(PermissionDenied):
        apply(world, [open_event(labels(world)[0])], user=user)


def test_a_sampler_cannot_capture_at_a_site_they_are_not_assigned_to(world):
    [code] = labels(world, site=world.site_b)
    with pytest.raises(PermissionDenied):
        services.open_tube(
            by=world.users["sampler_a"], site=world.site_b, code=code, at=timezone.now(),
            event_id=uuid.uuid4(),
        )  # fmt: skip
    assert not Tube.objects.exists()


def test_batches_cost_a_fixed_number_of_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def batch(tubes):
        codes, crowd, events = labels(world, tubes), people(world, 9 * tubes), []
        for i, code in enumerate(codes):
            events.append(open_event(code))
            events += [add_event(code, p) for p in crowd[9 * i : 9 * i + 9]]
        return events

    small, large = batch(2), batch(20)
    apply(world, [])  # loads the sampler's grants, once per user object
    counts = []
    for events in (small, large):
        with CaptureQueriesContext(connection) as queries:
            results = apply(world, events)
        assert {r.fate for r in results} == {APPLIED}
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 22


def test_one_scan_costs_a_handful_of_queries(
    world, django_assert_num_queries, django_capture_on_commit_callbacks
):
    tube = open_tube(world)
    [person] = people(world, 1)
    device = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        apply(world, [add_event(tube.code, people(world, 1)[0])], device=device)
    # PostgreSQL: the person, then one call of sampling_add_scanned (sync/quick.py),
    # in a savepoint only because the test runs in a transaction (a request does not).
    # SQLite: savepoint, tube lock, person, insert sample, update tube, insert event,
    # release: a lone scan reads neither the event log nor the samples first (the
    # unique keys catch a replay or a second scan; see sync.lean_enough).
    expected = 4 if connection.vendor == "postgresql" else 7
    # Either way the device's last sync is written at most every 30 s.
    with django_assert_num_queries(expected):
        [result] = apply(world, [add_event(tube.code, person)], device=device)
    assert result.fate == APPLIED


def test_lone_scans_that_break_a_unique_key_are_played_again_in_full(world):
    tube = open_tube(world)
    [person] = people(world, 1)
    first = add_event(tube.code, person)
    assert fates(apply(world, [first])) == [(APPLIED, "")]
    assert fates(apply(world, [add_event(tube.code, person)])) == [(DUPLICATE, "already_in_tube")]
    apply(world, [event(EventType.REMOVE_LAST, tube.code)])
    # Replayed after the undo: the person is free again, but the event was applied once.
    [replay] = apply(world, [first])
    assert (replay.fate, replay.reason, replay.first_fate) == (DUPLICATE, "replayed", APPLIED)
    assert Sample.objects.filter(person=person, active=True).count() == 0
    assert Tube.objects.get().member_count == 0


# --- The single-event services --------------------------------------------------------


def test_service_functions_are_idempotent_on_the_event_id(world):
    tube = open_tube(world)
    [person] = people(world, 1)
    by, now, event_id = world.users["sampler_a"], timezone.now(), uuid.uuid4()
    first = services.add_person(by=by, tube=tube, person=person, at=now, event_id=event_id)
    again = services.add_person(by=by, tube=tube, person=person, at=now, event_id=event_id)
    assert (first.fate, again.fate, again.first_fate) == (APPLIED, DUPLICATE, APPLIED)
    removed = services.remove_last_person(
        by=by, tube=tube, person=person, at=now, event_id=uuid.uuid4()
    )
    assert removed.fate == APPLIED
    services.add_person(by=by, tube=tube, person=person, at=now, event_id=uuid.uuid4())
    closed = services.close_tube(by=by, tube=tube, at=now, event_id=uuid.uuid4())
    assert closed.fate == APPLIED
    void = services.void_tube(by=by, tube=tube, at=now, event_id=uuid.uuid4(), reason="x")
    assert (void.fate, void.reason) == (CONFLICT, "tube_closed")


# --- Scans ----------------------------------------------------------------------------


def card(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "national_id": "072161012345",
        "old_id": "",
        "full_name": "Nguyễn Thị Bích Ngọc",
        "birth_date": dt.date(1961, 8, 15),
        "sex": Sex.FEMALE,
        "address": "12 Lê Lợi",
        "issued_on": dt.date(2021, 4, 20),
    }
    fields.update(overrides)
    return format_cccd(CccdCard(**fields))


def test_resolve_person_by_qr_code_and_public_id(world):
    [person] = people(world, 1)
    by, site = world.users["sampler_a"], world.site_a
    assert services.resolve_person(qr.encode_payload(person), by=by, site=site) == person
    typed = person.display_code.lower().replace("-", " - ")
    assert services.resolve_person(typed, by=by, site=site) == person
    assert services.resolve_person(person.public_id, by=by, site=site) == person


def test_a_cccd_scan_matches_by_id_or_registers_its_holder(world):
    by, site = world.users["sampler_a"], world.site_a
    new = services.resolve_person(card(), by=by, site=site)
    assert (new.full_name, new.national_id, new.source) == (
        "Nguyễn Thị Bích Ngọc", "072161012345", DeclarationSource.CCCD,
    )  # fmt: skip
    assert new.ward == world.ward_a and new.birth_date == dt.date(1961, 8, 15)
    assert services.resolve_person(card(), by=by, site=site) == new
    assert Person.objects.count() == 1


def test_a_merged_record_resolves_to_its_survivor(world):
    survivor, merged = people(world, 2)
    Person.objects.filter(pk=merged.pk).update(merged_into=survivor, identity_key=None)
    found = services.resolve_person(
        qr.encode_payload(merged), by=world.users["sampler_a"], site=world.site_a
    )
    assert found == survivor


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("KKKK-KKKK", "person_unknown", "No one is registered with this code."),
        ("", "person_unknown", "No one is registered with this code."),
        ("123456789018", "scan_is_tube", "This is a tube label, not a person's code."),
        ("079061012345|x", "scan_invalid", "This is not a CCCD QR code"),
    ],
)
def test_scans_that_name_nobody_raise_a_translated_error(world, text, code, message):
    with pytest.raises(ScanError) as caught:
        services.resolve_person(text, by=world.users["sampler_a"], site=world.site_a)
    assert caught.value.code == code
    with translation.override("en"):  # the message follows the language of its reader
        assert caught.value.messages[0].startswith(message)


def test_resolving_needs_the_capture_permission(world):
    with pytest.raises(PermissionDenied):
        services.resolve_person(card(), by=world.users["ward_a"], site=world.site_a)
    assert not Person.objects.exists()


# --- Quick registration and conflicts ----------------------------------------------------


def quick(world, **overrides):
    data = {"full_name": "lê văn tám", "birth": "1990", "sex": Sex.MALE, "ward": world.ward_a}
    data.update(overrides)
    return PersonInput(**data)


def test_quick_registration_is_idempotent_on_the_client_id(world):
    client_id = uuid.uuid4()
    by = world.users["sampler_a"]
    first = services.quick_register(
        by=by, site=world.site_a, client_id=client_id, data=quick(world)
    )
    again = services.quick_register(
        by=by, site=world.site_a, client_id=client_id, data=quick(world)
    )
    assert (first.created, first.replayed, again.created, again.replayed) == (
        True,
        False,
        False,
        True,
    )
    assert first.person == again.person and first.person.full_name == "Lê Văn Tám"
    assert first.person.source == DeclarationSource.STAFF
    with pytest.raises(ValidationError):
        services.quick_register(
            by=by, site=world.site_a, client_id=uuid.uuid4(), data=quick(world, birth="")
        )


def test_registering_someone_without_a_phone_twice_finds_them_again(world):
    by = world.users["sampler_a"]
    first = services.quick_register(
        by=by, site=world.site_a, client_id=uuid.uuid4(), data=quick(world)
    )
    again = services.quick_register(
        by=by, site=world.site_a, client_id=uuid.uuid4(), data=quick(world)
    )
    assert (again.person, again.created) == (first.person, False)


def test_quick_registration_needs_capture_or_registration_rights(world):
    allowed = services.quick_register(
        by=world.users["dataentry_a"], site=world.site_b, client_id=uuid.uuid4(), data=quick(world)
    )
    assert allowed.created
    with pytest.raises(PermissionDenied):
        services.quick_register(
            by=world.users["sampler_a"], site=world.site_b, client_id=uuid.uuid4(),
            data=quick(world, ward=world.ward_b),
        )  # fmt: skip


def test_resolve_conflict_clears_it_from_the_site_count(world):
    tube_b = open_tube(world, site=world.site_b)
    tube_a = open_tube(world)
    [person] = people(world, 1)
    apply(world, [add_event(tube_b.code, person)], site=world.site_b, user="admin")
    [conflict] = apply(world, [add_event(tube_a.code, person)])
    stored = StationEvent.objects.get(client_event_id=conflict.id)
    with pytest.raises(PermissionDenied):
        services.resolve_conflict(by=world.users["dataentry_a"], event=stored)
    assert services.resolve_conflict(by=world.users["ward_a"], event=stored)
    assert not services.resolve_conflict(by=world.users["ward_a"], event=stored)
    assert AuditEvent.objects.filter(action="station_event.resolved").count() == 1


# --- Transitions ------------------------------------------------------------------------


@pytest.mark.parametrize("current", TubeStatus.values)
def test_transition_follows_the_table_and_changes_nothing_otherwise(world, current):
    tube = open_tube(world)
    apply(world, [add_event(tube.code, people(world, 1)[0])])
    tube.refresh_from_db()
    path = {"open": [], "closed": ["closed"], "shipped": ["closed", "shipped"],
            "received": ["closed", "shipped", "received"],
            "resulted": ["closed", "shipped", "received", "resulted"],
            "released": ["closed", "shipped", "received", "resulted", "released"],
            "void": ["void"], "rejected": ["closed", "shipped", "rejected"]}  # fmt: skip
    by = world.users["admin"]
    for step in path[current]:
        services.transition(tube, step, by=by)
    for target in TubeStatus.values:
        fresh = Tube.objects.get(pk=tube.pk)
        if target in ALLOWED_TRANSITIONS[current]:
            continue
        with pytest.raises(InvalidTransition):
            services.transition(fresh, target, by=by)
        assert Tube.objects.get(pk=tube.pk).status == current


def test_transition_audits_and_refuses_a_stale_tube(world):
    tube = open_tube(world)
    stale = Tube.objects.get(pk=tube.pk)
    [person] = people(world, 1)
    apply(world, [add_event(tube.code, person)])
    services.transition(tube, TubeStatus.CLOSED, by=world.users["admin"], reason="full enough")
    assert tube.status == "closed" and Tube.objects.get(pk=tube.pk).closed_at is not None
    audit = AuditEvent.objects.filter(action="tube.closed").get()
    assert audit.data == {
        "tube": tube.code,
        "from": "open",
        "to": "closed",
        "reason": "full enough",
    }
    with pytest.raises(InvalidTransition):
        services.transition(stale, TubeStatus.VOID, by=world.users["admin"])
    assert Sample.objects.get().active


def test_transition_to_void_releases_the_members(world):
    tube = open_tube(world)
    apply(world, [add_event(tube.code, p) for p in people(world, 2)])
    tube.refresh_from_db()
    services.transition(tube, TubeStatus.VOID, by=world.users["admin"], reason="leaked")
    assert list(Sample.objects.values_list("active", flat=True)) == [False, False]
    tube.refresh_from_db()
    assert (tube.status, tube.member_count, tube.voided_reason) == ("void", 0, "leaked")
