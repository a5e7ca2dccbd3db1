"""Result entry rules, without HTTP."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.labs import queries, services
from swabline.labs.enums import ResultState
from swabline.labs.models import LabCampaignSettings, TubeResult
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from tests.labs.helpers import closed_tube, received_tubes, ship

pytestmark = pytest.mark.django_db


def record(world, tube, value="negative", user="labtech_a", **kwargs):
    return services.record_result(
        by=world.users[user], lab=kwargs.pop("lab", world.lab_a), tube_code=tube.code,
        value=value, **kwargs,
    )  # fmt: skip


def codes(exc_info):
    return exc_info.value.code


def test_a_result_moves_the_tube_to_resulted_and_waits_for_release(world):
    (tube,) = received_tubes(world)
    done = record(world, tube, "positive", ct_values={"E": "24,5", "N": 26.1, "ORF1ab": ""})
    assert done.fate == "created"
    result = TubeResult.objects.get()
    assert (result.value, result.state, result.current) == ("positive", "entered", True)
    assert result.ct_values == {"E": 24.5, "N": 26.1, "ORF1ab": None}
    assert Tube.objects.get(pk=tube.pk).status == TubeStatus.RESULTED
    event = AuditEvent.objects.get(action="result.entered")
    assert event.data["tube"] == tube.code and event.data["value"] == "positive"


def test_the_same_value_again_is_a_no_op(world):
    (tube,) = received_tubes(world)
    first = record(world, tube)
    again = record(world, tube)
    assert (again.fate, again.result.pk) == ("unchanged", first.result.pk)
    assert TubeResult.objects.count() == 1


def test_a_different_value_is_a_contradiction_unless_replaced(world):
    (tube,) = received_tubes(world)
    first = record(world, tube, "negative")
    with pytest.raises(services.ResultRefused) as exc:
        record(world, tube, "positive")
    assert codes(exc) == "contradiction"
    assert TubeResult.objects.get(current=True).value == "negative"
    done = record(world, tube, "positive", replace=True)
    assert done.fate == "replaced"
    old = TubeResult.objects.get(pk=first.result.pk)
    assert (old.state, old.current) == (ResultState.DISCARDED, False)
    assert TubeResult.objects.get(current=True).value == "positive"


def test_a_released_result_cannot_be_changed_at_the_bench(world):
    (tube,) = received_tubes(world)
    result = record(world, tube).result
    TubeResult.objects.filter(pk=result.pk).update(
        state=ResultState.RELEASED, released_at=timezone.now(),
        released_by=world.users["labsupervisor_a"],
    )  # fmt: skip
    for replace in (False, True):
        with pytest.raises(services.ResultRefused) as exc:
            record(world, tube, "positive", replace=replace)
        assert codes(exc) == "released"
    assert record(world, tube, "negative").fate == "unchanged"


@pytest.mark.parametrize(
    ("setup", "code"),
    [("closed", "not_at_lab"), ("in_transit", "not_received"), ("lab_b", "not_at_lab"),
     ("unknown", "unknown_tube")],
)  # fmt: skip
def test_only_tubes_received_at_this_lab_take_results(world, setup, code):
    tube = closed_tube(world)
    if setup == "in_transit":
        ship(world, [tube], received=False)
    elif setup == "lab_b":
        ship(world, [tube], lab=world.lab_b)
    elif setup == "unknown":
        tube.code = "999999999999"
    with pytest.raises(services.ResultRefused) as exc:
        record(world, tube)
    assert codes(exc) == code
    assert not TubeResult.objects.exists()


def test_a_rejected_tube_takes_no_result(world):
    (tube,) = received_tubes(world)
    Tube.objects.filter(pk=tube.pk).update(status=TubeStatus.REJECTED)
    with pytest.raises(services.ResultRefused) as exc:
        record(world, tube)
    assert codes(exc) == "rejected"


@pytest.mark.parametrize("ct", [{"E": 51}, {"E": -1}, {"E": "abc"}, {"E": float("nan")}, {"": 20}])
def test_bad_ct_values_are_refused(world, ct):
    (tube,) = received_tubes(world)
    with pytest.raises(services.ResultRefused):
        record(world, tube, "positive", ct_values=ct)
    assert not TubeResult.objects.exists()


def test_unknown_value_is_refused(world):
    (tube,) = received_tubes(world)
    with pytest.raises(services.ResultRefused) as exc:
        record(world, tube, "maybe")
    assert codes(exc) == "unknown_value"


def test_only_technicians_of_the_lab_enter_results(world):
    (tube,) = received_tubes(world)
    for user in ("labtech_b", "sampler_a", "ward_a", "nobody"):
        with pytest.raises(PermissionDenied):
            record(world, tube, user=user)
    # Lab B's technician at lab B: the tube is not there.
    with pytest.raises(services.ResultRefused):
        record(world, tube, user="labtech_b", lab=world.lab_b)
    assert record(world, tube, user="labsupervisor_a").fate == "created"


def test_a_client_id_makes_a_retry_harmless(world):
    a, b = received_tubes(world, 2)
    client_id = uuid.uuid4()
    first = record(world, a, client_id=client_id)
    again = record(world, a, "positive", client_id=client_id)
    assert (again.fate, again.result.pk) == ("duplicate", first.result.pk)
    with pytest.raises(services.ResultRefused) as exc:
        services.record_result(
            by=world.users["labtech_a"], lab=world.lab_a, tube=b, value="negative",
            client_id=client_id,
        )  # fmt: skip
    assert codes(exc) == "client_id_reused"
    assert TubeResult.objects.count() == 1


def test_undo_discards_and_puts_the_tube_back_on_the_worklist(world):
    (tube,) = received_tubes(world)
    record(world, tube)
    assert list(queries.awaiting_result(world.lab_a)) == []
    services.discard_result(by=world.users["labtech_a"], lab=world.lab_a, tube_code=tube.code)
    assert TubeResult.objects.get().state == ResultState.DISCARDED
    assert list(queries.awaiting_result(world.lab_a)) == [tube]
    assert record(world, tube, "positive").fate == "created"
    with pytest.raises(services.ResultRefused):
        services.discard_result(by=world.users["labtech_b"], lab=world.lab_b, tube_code=tube.code)


def test_worklist_is_oldest_first_with_alarm_levels_per_campaign(world):
    now = timezone.now()
    old = received_tubes(world, received_at=now - dt.timedelta(hours=13))[0]
    middle = received_tubes(world, received_at=now - dt.timedelta(hours=7))[0]
    new = received_tubes(world, received_at=now - dt.timedelta(hours=1))[0]
    received_tubes(world, lab=world.lab_b)
    rows = queries.worklist(world.lab_a, now=now)
    assert [(r.tube, r.level) for r in rows] == [(old, "alarm"), (middle, "warning"), (new, "ok")]
    assert round(rows[0].hours) == 13
    services.set_worklist_alarms(
        by=world.users["labsupervisor_a"], lab=world.lab_a, campaign=world.campaign,
        warning_hours=8, alarm_hours=20,
    )  # fmt: skip
    rows = queries.worklist(world.lab_a, now=now)
    assert [r.level for r in rows] == ["warning", "ok", "ok"]
    record(world, old)
    assert [r.tube for r in queries.worklist(world.lab_a, now=now)] == [middle, new]


def test_alarm_settings_rules(world):
    args = {"lab": world.lab_a, "campaign": world.campaign}
    with pytest.raises(ValidationError):
        services.set_worklist_alarms(
            by=world.users["province"], warning_hours=9, alarm_hours=9, **args
        )
    for user in ("labtech_a", "ward_b", "nobody"):
        with pytest.raises(PermissionDenied):
            services.set_worklist_alarms(
                by=world.users[user], warning_hours=2, alarm_hours=4, **args
            )
    services.set_worklist_alarms(by=world.users["province"], warning_hours=2, alarm_hours=4, **args)
    s = LabCampaignSettings.objects.get()
    assert (s.worklist_warning_hours, s.worklist_alarm_hours) == (2, 4)


def test_awaiting_release_lists_positives_first(world):
    tubes = received_tubes(world, 3)
    for tube, value in zip(tubes, ["negative", "positive", "invalid"], strict=True):
        record(world, tube, value)
    order = [r.value for r in queries.awaiting_release(world.lab_a)]
    assert order == ["positive", "invalid", "negative"]
    assert queries.lab_counts(world.lab_a) == {
        "awaiting_result": 0, "awaiting_release": 3, "positive": 1,
    }  # fmt: skip
