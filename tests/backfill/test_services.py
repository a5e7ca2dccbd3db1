"""Names missing at the lab, and the late entry that completes a paper tube."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from swabline.audit.models import AuditEvent
from swabline.backfill import services
from swabline.backfill.models import LateEntry
from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.labs.queries import awaiting_result
from swabline.results import services as results
from swabline.results.models import Outcome
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Sample, Tube, TubeLabel
from swabline.shipping import services as shipping
from swabline.shipping.enums import DiscrepancyKind
from swabline.shipping.models import ReceiptDiscrepancy
from tests.backfill.helpers import enter, names_missing, paper
from tests.sampling.factories import fresh_code, labels, people
from tests.shipping.helpers import in_transit, tube

pytestmark = pytest.mark.django_db


def _release_all(world):
    ids = list(
        TubeResult.objects.filter(
            lab=world.lab_a, current=True, state=ResultState.ENTERED
        ).values_list("pk", flat=True)
    )
    return results.release_results(
        by=world.users["labsupervisor_a"], lab=world.lab_a, result_ids=ids
    )


def test_an_issued_label_without_names_is_received_as_names_missing(world):
    [t] = names_missing(world)
    assert t.status == TubeStatus.RECEIVED
    assert t.names_missing_since is not None
    assert t.member_count == 0 and t.site_id == world.site_a.pk
    assert TubeLabel.objects.get(code=t.code).used_at is not None
    assert ReceiptDiscrepancy.objects.filter(kind=DiscrepancyKind.NAMES_MISSING, tube=t).exists()
    # The lab can test it: it is on the worklist.
    assert awaiting_result(world.lab_a).filter(pk=t.pk).exists()


def test_scan_says_names_missing_and_an_unissued_code_stays_unknown(world):
    [code] = labels(world, 1, site=world.site_a)
    shipment = in_transit(world, [tube(world)])
    lab_user = world.users["labsupervisor_a"]
    scanned = shipping.scan_at_receipt(by=lab_user, shipment=shipment, code=code)
    assert scanned.kind == DiscrepancyKind.NAMES_MISSING
    stranger = fresh_code()
    assert shipping.scan_at_receipt(by=lab_user, shipment=shipment, code=stranger).kind == (
        DiscrepancyKind.UNKNOWN_LABEL
    )
    receipt = shipping.receive(by=lab_user, shipment=shipment)
    assert receipt.received == 1  # the paper tube; the manifest tube was not scanned
    assert receipt.discrepancies[DiscrepancyKind.UNKNOWN_LABEL] == [stranger]
    assert not Tube.objects.filter(code=stranger).exists()


def test_a_names_missing_result_is_not_released_by_the_service(world):
    [t] = names_missing(world, result="negative")
    release = _release_all(world)
    assert release.tubes == 0 and release.people == 0
    t.refresh_from_db()
    assert t.status == TubeStatus.RESULTED
    assert TubeResult.objects.get(tube=t, current=True).state == ResultState.ENTERED


def test_the_database_refuses_releasing_a_names_missing_tube(world):
    [t] = names_missing(world, result="negative")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tube.objects.filter(pk=t.pk).update(status=TubeStatus.RELEASED)
    with pytest.raises(IntegrityError), transaction.atomic():  # cleared without names
        Tube.objects.filter(pk=t.pk).update(names_missing_since=None)
    other = tube(world)
    with pytest.raises(IntegrityError), transaction.atomic():  # marked later
        Tube.objects.filter(pk=other.pk).update(names_missing_since=t.names_missing_since)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no session settings")
def test_postgresql_refuses_members_added_outside_the_backfill_service(world):
    [t] = names_missing(world)
    [person] = people(world, 1)
    row = Sample(
        tube=t, person=person, campaign_id=t.campaign_id, position=1,
        collected_at=t.opened_at, collected_by=world.users["admin"], client_event_id=uuid.uuid4(),
        province_code=t.province_code,
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.bulk_create([row])


def test_members_of_a_closed_tube_still_never_change(world):
    closed = tube(world)
    [person] = people(world, 1)
    row = Sample(
        tube=closed, person=person, campaign_id=closed.campaign_id, position=5,
        collected_at=closed.opened_at, collected_by=world.users["admin"],
        client_event_id=uuid.uuid4(), province_code=closed.province_code,
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.bulk_create([row])


def test_backfill_completes_a_names_missing_tube_and_release_proceeds(world):
    [t] = names_missing(world, result="positive")
    members = people(world, 3)
    entered = enter(world, t.code, members)
    assert entered.releasable
    t.refresh_from_db()
    assert t.names_missing_since is None and t.member_count == 3
    assert t.status == TubeStatus.RESULTED
    entry = LateEntry.objects.get(tube=t)
    assert entry.sheet_ref == "P-01" and entry.names_missing_since is not None
    assert entry.entered_by == world.users["dataentry_a"]
    assert ReceiptDiscrepancy.objects.get(tube=t).resolved_at is not None
    event = AuditEvent.objects.get(action="backfill.entered")
    assert event.data["sheet_ref"] == "P-01" and event.data["names_missing"] is True
    release = _release_all(world)
    assert release.tubes == 1 and release.people == 3
    t.refresh_from_db()
    assert t.status == TubeStatus.RELEASED
    assert Outcome.objects.filter(person__in=members, current=True).count() == 3


def test_backfill_of_a_fresh_label_makes_a_closed_tube_that_ships(world):
    [code] = labels(world, 1, site=world.site_a)
    entered = enter(world, code, 10)
    t = entered.entry.tube
    assert t.status == TubeStatus.CLOSED and t.member_count == 10
    assert Sample.objects.filter(tube=t, active=True).count() == 10
    assert TubeLabel.objects.get(code=code).used_at is not None
    assert not entered.releasable
    shipment = in_transit(world, [t])
    shipping.receive(by=world.users["labtech_a"], shipment=shipment, codes=[code])
    t.refresh_from_db()
    assert t.status == TubeStatus.RECEIVED and t.names_missing_since is None


def test_the_same_client_id_answers_the_first_entry(world):
    [code] = labels(world, 1, site=world.site_a)
    client_id = uuid.uuid4()
    first = enter(world, code, 2, client_id=client_id)
    again = enter(world, code, 2, client_id=client_id)
    assert again.replayed and again.entry.pk == first.entry.pk
    assert LateEntry.objects.count() == 1


@pytest.mark.parametrize(
    "case",
    ["unknown_label", "other_site", "used", "nobody", "sampled", "too_many", "future", "sheet"],
)
def test_bad_paper_tubes_are_refused_with_nothing_written(world, case):
    [code] = labels(world, 1, site=world.site_a)
    members = people(world, 2)
    p = paper(code, members)
    site = world.site_a
    if case == "unknown_label":
        p = paper(fresh_code(), members)
    elif case == "other_site":
        [code_b] = labels(world, 1, site=world.site_b)
        p = paper(code_b, members)
    elif case == "used":
        enter(world, code, 1)
        p = paper(code, members)
    elif case == "nobody":
        p = paper(code, [])
    elif case == "sampled":
        [other] = labels(world, 1, site=world.site_a)
        enter(world, other, [members[0]])
    elif case == "too_many":
        p = paper(code, people(world, world.campaign.pool_size_limit + 1))
    elif case == "future":
        p = paper(code, members, hours_ago=-2)
    elif case == "sheet":
        p = paper(code, members, sheet=" ")
    before = (Tube.objects.count(), Sample.objects.count(), LateEntry.objects.count())
    with pytest.raises(ValidationError) as exc:
        services.enter_paper_tube(by=world.users["dataentry_a"], site=site, paper=p)
    assert exc.value.message_dict
    assert (Tube.objects.count(), Sample.objects.count(), LateEntry.objects.count()) == before


def test_volunteers_backfill_only_for_sites_in_their_places(world):
    [code] = labels(world, 1, site=world.site_b)
    members = people(world, 1, ward=world.ward_b)
    for user in ("dataentry_a", "sampler_a", "labtech_a", "ward_b", "nobody"):
        with pytest.raises(PermissionDenied):
            services.enter_paper_tube(
                by=world.users[user], site=world.site_b, paper=paper(code, members)
            )
    with pytest.raises(PermissionDenied):
        services.declare_backlog(by=world.users["dataentry_a"], site=world.site_b, tubes=3)
    # The sampler of site A may backfill at site A.
    [code_a] = labels(world, 1, site=world.site_a)
    assert enter(world, code_a, 1, user="sampler_a").entry.site == world.site_a


def test_people_outside_the_users_places_are_refused(world):
    [code] = labels(world, 1, site=world.site_a)
    stranger = people(world, 1, ward=world.ward_b)
    with pytest.raises(ValidationError) as exc:
        services.enter_paper_tube(
            by=world.users["dataentry_a"], site=world.site_a, paper=paper(code, stranger)
        )
    assert "people" in exc.value.message_dict


def test_a_paper_tube_found_after_the_receipt_is_received_as_names_missing(world):
    [code] = labels(world, 1, site=world.site_a)
    manifest = tube(world)
    shipment = in_transit(world, [manifest])
    lab_user = world.users["labtech_a"]
    shipping.receive(by=lab_user, shipment=shipment, codes=[manifest.code])
    late = shipping.receive_late_tube(by=lab_user, shipment=shipment, code=code)
    assert late.code == code and late.status == TubeStatus.RECEIVED
    late.refresh_from_db()
    assert late.names_missing_since is not None
    assert awaiting_result(world.lab_a).filter(pk=late.pk).exists()
    with pytest.raises(shipping.ShippingError):  # not a label anyone issued
        shipping.receive_late_tube(by=lab_user, shipment=shipment, code=fresh_code())


def _batch(world, codes, per_tube=3):
    return [paper(code, people(world, per_tube), sheet=f"S-{i}") for i, code in enumerate(codes)]


def test_a_batch_is_set_based_and_completes_names_missing_tubes(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = world.users["dataentry_a"]
    services.require_backfill(user, world.site_a)  # grants load once, outside the counts
    small = _batch(world, labels(world, 2, site=world.site_a))
    with CaptureQueriesContext(connection) as few:
        entries, errors = services.enter_paper_tubes(by=user, site=world.site_a, papers=small)
    assert errors == {} and len(entries) == 2
    [waiting] = names_missing(world, result="negative")
    big = _batch(world, [*labels(world, 9, site=world.site_a), waiting.code])
    with CaptureQueriesContext(connection) as many:
        entries, errors = services.enter_paper_tubes(by=user, site=world.site_a, papers=big)
    assert errors == {} and len(entries) == 10
    # Five times the tubes, a names-missing one among them: a few statements more, not 5×.
    assert len(many.captured_queries) <= len(few.captured_queries) + 4
    waiting.refresh_from_db()
    assert waiting.names_missing_since is None and waiting.member_count == 3
    assert (
        Tube.objects.filter(code__in=[p.code for p in big], status=TubeStatus.CLOSED).count() == 9
    )
    assert Sample.objects.filter(tube__code__in=[p.code for p in big], active=True).count() == 30
    event = AuditEvent.objects.get(
        action="backfill.entered_batch", data__names_missing=[waiting.code]
    )
    assert [waiting.code, "S-9", 3] in event.data["tubes"]
    assert _release_all(world).people == 3


def test_a_batch_with_one_bad_tube_writes_nothing(world):
    codes = labels(world, 3, site=world.site_a)
    papers = _batch(world, codes)
    twice = papers[0].people[0]
    papers[2] = paper(codes[2], [twice])  # a person in two tubes of the batch
    papers.append(paper(codes[1], people(world, 1)))  # a label twice
    before = (Tube.objects.count(), Sample.objects.count(), LateEntry.objects.count())
    entries, errors = services.enter_paper_tubes(
        by=world.users["dataentry_a"], site=world.site_a, papers=papers
    )
    assert entries == [] and set(errors) == {2, 3}
    assert "people" in errors[2] and "code" in errors[3]
    assert (Tube.objects.count(), Sample.objects.count(), LateEntry.objects.count()) == before
