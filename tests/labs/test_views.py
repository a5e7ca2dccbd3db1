"""Lab pages: access per role and lab, the bench endpoints, uploads, review, corrections."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from swabline.labs import services
from swabline.labs.enums import ResultState
from swabline.labs.models import LabCampaignSettings, ResultUpload, TubeResult
from tests.labs.helpers import received_tubes

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def url(name, lab, *args):
    return reverse(f"labs:{name}", args=[lab.public_id, *args])


def enter(world, tube, value="negative"):
    return services.record_result(
        by=world.users["labtech_a"], lab=world.lab_a, tube_code=tube.code, value=value
    ).result


@pytest.mark.parametrize("name", ["detail", "worklist", "entry", "uploads"])
def test_lab_pages_are_the_labs_own(world, name):
    assert world.client_for("labtech_a").get(url(name, world.lab_a)).status_code == 200
    assert world.client_for("labtech_b").get(url(name, world.lab_a)).status_code == 404
    assert world.client_for("sampler_a").get(url(name, world.lab_a)).status_code == 403
    assert world.client_for("nobody").get(url(name, world.lab_a)).status_code == 403


def test_home_shows_counts_and_links(world):
    tubes = received_tubes(world, 3)
    enter(world, tubes[0], "positive")
    page = world.client_for("labsupervisor_a").get(url("detail", world.lab_a)).content.decode()
    assert 'data-testid="count-awaiting-result">2<' in page
    assert 'data-testid="count-awaiting-release">1<' in page
    for link in ("link-entry", "link-upload", "link-review", "link-worklist"):
        assert f'id="{link}"' in page
    tech_page = world.client_for("labtech_a").get(url("detail", world.lab_a)).content.decode()
    assert 'id="link-review"' not in tech_page


def test_scan_save_undo_over_json(world):
    (tube,) = received_tubes(world)
    client = world.client_for("labtech_a")
    found = client.get(url("entry-tube", world.lab_a), {"code": f" {tube.code}\n"}).json()
    assert found["ok"] and found["code"] == tube.code and "3" in found["html"]
    saved = client.post(
        url("entry-save", world.lab_a),
        {"tube": tube.code, "value": "positive", "ct_E": "22.5"},
        **JSON,
    ).json()
    assert saved["ok"] and saved["fate"] == "created"
    assert f'data-testid="recent-{tube.code}"' in saved["recent"]
    assert TubeResult.objects.get().ct_values == {"E": 22.5}
    clash = client.post(
        url("entry-save", world.lab_a), {"tube": tube.code, "value": "negative"}, **JSON
    )
    assert clash.status_code == 409 and clash.json()["code"] == "contradiction"
    undone = client.post(url("entry-undo", world.lab_a), {"code": tube.code}, **JSON).json()
    assert undone["ok"]
    assert TubeResult.objects.get().state == ResultState.DISCARDED


def test_lab_b_cannot_see_or_enter_lab_a_tubes(world):
    (tube,) = received_tubes(world)
    client = world.client_for("labtech_b")
    assert not client.get(url("entry-tube", world.lab_b), {"code": tube.code}).json()["ok"]
    response = client.post(
        url("entry-save", world.lab_b), {"tube": tube.code, "value": "negative"}, **JSON
    )
    assert response.status_code == 409 and response.json()["code"] == "not_at_lab"
    assert (
        client.post(
            url("entry-save", world.lab_a), {"tube": tube.code, "value": "negative"}
        ).status_code
        == 404
    )
    assert client.get(url("tube", world.lab_b, tube.code)).status_code == 404
    assert client.get(url("tube", world.lab_a, tube.code)).status_code == 404
    assert not TubeResult.objects.exists()


def test_a_technician_cannot_release(world):
    (tube,) = received_tubes(world)
    enter(world, tube)
    client = world.client_for("labtech_a")
    assert client.get(url("review", world.lab_a)).status_code == 403
    assert client.post(url("review", world.lab_a), {"tube": tube.code}).status_code == 403
    assert (
        world.client_for("labtech_b")
        .post(url("review", world.lab_a), {"tube": tube.code})
        .status_code
        == 403
    )
    assert TubeResult.objects.get().state == ResultState.ENTERED


def test_review_lists_positives_first_and_releases_once(world):
    tubes = received_tubes(world, 3)
    for tube, value in zip(tubes, ["negative", "positive", "invalid"], strict=True):
        enter(world, tube, value)
    client = world.client_for("labsupervisor_a")
    page = client.get(url("review", world.lab_a)).content.decode()
    order = [page.index(f'data-testid="review-{t.code}"') for t in (tubes[1], tubes[2], tubes[0])]
    assert order == sorted(order)
    pytest.importorskip("swabline.results.services")
    form = {"tube": [t.code for t in tubes], "client_id": str(uuid.uuid4())}
    assert client.post(url("review", world.lab_a), form).status_code == 302
    assert client.post(url("review", world.lab_a), form).status_code == 302  # double submit
    assert set(TubeResult.objects.values_list("state", flat=True)) == {ResultState.RELEASED}
    from swabline.results.models import Release

    assert Release.objects.filter(kind="release").count() == 1


def test_upload_flow_over_http(world):
    (tube,) = received_tubes(world)
    client = world.client_for("labtech_a")
    data = f"Sample Name,Result,Ct E\r\n{tube.code},Negative,\r\n".encode()
    response = client.post(
        url("uploads", world.lab_a), {"file": SimpleUploadedFile("run.csv", data)}
    )
    upload = ResultUpload.objects.get()
    assert response.status_code == 302
    page = client.get(url("upload", world.lab_a, upload.public_id)).content.decode()
    assert 'id="mapping-form"' in page
    form = {
        "tube_code": "Sample Name", "result": "Result", "ct_columns": ["Ct E"],
        "negative": "Negative; NEG", "positive": "Positive", "invalid": "Invalid",
    }  # fmt: skip
    client.post(url("upload", world.lab_a, upload.public_id), {**form, "action": "check"})
    upload.refresh_from_db()
    assert (upload.created, upload.errors) == (1, 0)
    client.post(url("upload", world.lab_a, upload.public_id), {**form, "action": "apply"})
    assert TubeResult.objects.get().value == "negative"
    assert (
        world.client_for("labtech_b").get(url("upload", world.lab_a, upload.public_id)).status_code
        == 404
    )
    assert (
        world.client_for("labtech_b").get(url("upload", world.lab_b, upload.public_id)).status_code
        == 404
    )


def test_correction_page_needs_a_supervisor(world):
    (tube,) = received_tubes(world)
    result = enter(world, tube, "negative")
    TubeResult.objects.filter(pk=result.pk).update(
        state=ResultState.RELEASED,
        released_at=timezone.now(),
        released_by=world.users["labsupervisor_a"],
    )
    tech = world.client_for("labtech_a")
    assert tech.get(url("tube", world.lab_a, tube.code)).status_code == 200
    assert (
        tech.post(
            url("tube", world.lab_a, tube.code), {"value": "positive", "reason": "x"}
        ).status_code
        == 403
    )
    page = (
        world.client_for("labsupervisor_a")
        .get(url("tube", world.lab_a, tube.code))
        .content.decode()
    )
    assert 'id="correction-form"' in page


def test_alarm_settings_form(world):
    received_tubes(world)
    target = url("alarms", world.lab_a, world.campaign.public_id)
    assert world.client_for("labtech_a").get(target).status_code == 403
    assert world.client_for("ward_b").get(target).status_code == 404
    client = world.client_for("labsupervisor_a")
    assert client.post(target, {"warning_hours": 5, "alarm_hours": 3}).status_code == 200
    assert client.post(target, {"warning_hours": 3, "alarm_hours": 9}).status_code == 302
    assert LabCampaignSettings.objects.get().worklist_alarm_hours == 9
    assert (
        world.client_for("province")
        .post(target, {"warning_hours": 4, "alarm_hours": 9})
        .status_code
        == 302
    )


def test_a_supervisor_corrects_a_released_result_with_a_reason(world):
    from swabline.results.services import release_results

    (tube,) = received_tubes(world)
    result = enter(world, tube, "negative")
    release_results(by=world.users["labsupervisor_a"], lab=world.lab_a, result_ids=[result.pk])
    client = world.client_for("labsupervisor_a")
    target = url("tube", world.lab_a, tube.code)
    assert client.post(target, {"value": "positive", "reason": ""}).status_code == 200
    assert TubeResult.objects.get(current=True).value == "negative"
    assert (
        client.post(target, {"value": "positive", "reason": "Wrong well read"}).status_code == 302
    )
    current = TubeResult.objects.get(current=True)
    assert (current.value, current.state, current.amends_id) == ("positive", "released", result.pk)
    page = client.get(target).content.decode()
    assert "Wrong well read" in page and "state-superseded" in page
