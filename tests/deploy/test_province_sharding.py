"""Every hot table carries its province (docs/deploy.md, "Nation scale"): the column
exists and is NOT NULL, rows written by every path of a campaign day (set-based sync,
services, triggers) hold their place's province, and the column leads an index —
what Citus needs to shard by province. Every model must be classified here, so a
new table cannot slip past."""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import F, Model, Q

from swabline.certificates import services as certificates
from swabline.people import data_requests
from swabline.people.enums import DataRequestKind
from swabline.results.models import Outcome
from tests.conftest import World
from tests.dashboard.scenario import run_day

pytestmark = pytest.mark.django_db

# Hot tables (rows per person, tube or event) → the relation whose province they copy
# (None: no single source; the column is still there and filled where known).
HOT: dict[str, str | None] = {
    "people.Person": "ward",
    "people.Declaration": "person",
    "sampling.Tube": "site",
    "sampling.Sample": "tube",
    "sampling.StationEvent": "site",
    "shipping.Shipment": "site",
    "results.Outcome": "person",
    "notifications.Notification": "person",
    "backfill.LateEntry": "site",
    "audit.AuditEvent": None,
    "labs.TubeResult": "tube",
    "shipping.ShipmentTube": "shipment",
    "shipping.ReceiptScan": "shipment",
    "sampling.TubeLabel": "campaign",
    "certificates.Certificate": "outcome",
    "dashboard.HourCount": "site",
    "dashboard.SiteCount": "site",
    "people.DataRequest": "person",
}
# Not indexed by province on purpose: never filtered by it (the notification worker
# claims by next_attempt_at; outcomes and messages are found through their person).
# Under Citus it is their distribution column, which needs no index of its own.
UNINDEXED_OK = {
    "notifications.Notification",
    "results.Outcome",
    # Found through their tube, shipment, code or outcome.
    "labs.TubeResult",
    "shipping.ShipmentTube",
    "shipping.ReceiptScan",
    "sampling.TubeLabel",
    "certificates.Certificate",
    # Found through their tube, person or event id (decision 0017).
    "sampling.Sample",
    "sampling.StationEvent",
}
# Small or per-campaign tables: Citus reference tables (a copy on every node), or
# keyed by something other than a place (look-up counters by HMAC of the identity).
REFERENCE = {
    "places.Place", "places.PlaceSuccession", "places.DataSource", "accounts.User",
    "accounts.Assignment", "accounts.ApiToken", "labs.Lab", "labs.LabCampaignSettings",
    "labs.ColumnMapping", "labs.ResultUpload", "campaigns.Campaign", "campaigns.CampaignWard",
    "campaigns.Site", "people.PersonMerge", "people.Consent", "people.PeopleImport",
    "sampling.SamplingSettings", "sampling.LabelBatch", "sampling.DeviceSync",
    "shipping.ReceiptDiscrepancy", "shipping.TubeRejection", "results.Release",
    "notifications.WebhookEndpoint", "lookup.LookupCounter", "certificates.SigningKey",
    "interop.BulkExport", "backfill.PaperBacklog", "backfill.BackfillUpload",
    "dashboard.WardCount", "dashboard.AlarmThresholds", "reports.PoolSizePolicy",
}  # fmt: skip


def model(label: str) -> type[Model]:
    return apps.get_model(label)


def carries_province(label: str) -> bool:
    table = model(label)._meta.db_table
    with connection.cursor() as cursor:
        columns = {c.name: c for c in connection.introspection.get_table_description(cursor, table)}
    return "province_code" in columns and not columns["province_code"].null_ok


def leads_an_index(label: str) -> bool:
    table = model(label)._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(
        (c["index"] or c["unique"]) and c["columns"][:1] == ["province_code"]
        for c in constraints.values()
    )


def test_every_model_is_classified() -> None:
    ours = {m._meta.label for m in apps.get_models() if m.__module__.startswith("swabline.")}
    unclassified = ours - set(HOT) - REFERENCE
    assert unclassified == set(), "classify new models here: hot tables carry their province"
    assert set(HOT) | REFERENCE <= ours, "a classified model is gone"


@pytest.mark.parametrize("label", sorted(HOT))
def test_hot_table_has_a_not_null_province_column_leading_an_index(label: str) -> None:
    assert carries_province(label)
    assert leads_an_index(label) or label in UNINDEXED_OK


def test_rows_of_a_campaign_day_hold_their_places_province(world: World) -> None:
    run_day(world)
    # The day ends with a certificate and a data request.
    outcome = next(o for o in Outcome.objects.filter(current=True) if certificates.certifiable(o))
    certificates.issue(outcome=outcome)
    data_requests.record_request(
        by=world.users["admin"],
        person=outcome.person,
        kind=DataRequestKind.ACCESS,
        reason="asked at the ward office",
        client_id=uuid.uuid4(),
    )
    for label, source in HOT.items():
        if source is None:
            continue
        rows = model(label)._default_manager.all()
        wrong = rows.filter(~Q(province_code=F(f"{source}__province_code")) | Q(province_code=""))
        assert wrong.count() == 0, label
    filled = {label: model(label)._default_manager.count() for label in HOT}
    empty = {label for label, n in filled.items() if n == 0}
    assert empty <= {"people.Declaration", "notifications.Notification", "backfill.LateEntry"}, (
        filled
    )
