"""The lab API: batches of results (atomic, idempotent), the worklist, scoped to the lab."""

from __future__ import annotations

import json
import uuid

import pytest

from swabline.accounts import services as accounts
from swabline.labs.models import TubeResult
from tests.labs.helpers import received_tubes

pytestmark = pytest.mark.django_db


def bearer(world, name):
    _, raw = accounts.issue_token(user=world.users[name], name="lab system")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def results_url(lab):
    return f"/api/v1/labs/{lab.public_id}/results"


def item(tube, value="negative", **extra):
    return {"client_id": str(uuid.uuid4()), "tube": tube.code, "value": value, **extra}


def test_a_batch_is_recorded_and_a_retry_is_a_no_op(world, client):
    a, b = received_tubes(world, 2)
    body = {"results": [item(a, ct={"E": 23.1}), item(b, "positive", well="B2", run_id="R7")]}
    token = bearer(world, "labtech_a")
    first = post(client, results_url(world.lab_a), body, **token)
    assert first.status_code == 200
    assert [i["status"] for i in first.json()["items"]] == ["created", "created"]
    again = post(client, results_url(world.lab_a), body, **token)
    assert [i["status"] for i in again.json()["items"]] == ["duplicate", "duplicate"]
    assert TubeResult.objects.filter(source="api").count() == 2


def test_a_batch_is_all_or_nothing_with_per_item_errors(world, client):
    (a,) = received_tubes(world)
    body = {"results": [item(a), {**item(a), "tube": "123456789012"}]}
    response = post(client, results_url(world.lab_a), body, **bearer(world, "labtech_a"))
    assert response.status_code == 422
    data = response.json()
    assert data["applied"] is False
    assert [(i["status"], i["code"]) for i in data["items"]] == [
        ("created", ""),
        ("error", "unknown_tube"),
    ]
    assert not TubeResult.objects.exists()


def test_bad_ct_is_refused_by_the_schema_or_the_rules(world, client):
    (a,) = received_tubes(world)
    response = post(client, results_url(world.lab_a), {"results": [item(a, ct={"E": 70})]},
                    **bearer(world, "labtech_a"))  # fmt: skip
    assert response.status_code == 422
    assert response.json()["items"][0]["code"] == "bad_ct"


def test_scoped_to_the_callers_lab(world, client):
    (a,) = received_tubes(world)
    body = {"results": [item(a)]}
    assert (
        post(client, results_url(world.lab_a), body, **bearer(world, "labtech_b")).status_code
        == 404
    )
    assert (
        post(client, results_url(world.lab_a), body, **bearer(world, "sampler_a")).status_code
        == 403
    )
    other = post(client, results_url(world.lab_b), body, **bearer(world, "labtech_b"))
    assert other.status_code == 422 and other.json()["items"][0]["code"] == "not_at_lab"
    assert (
        client.get(
            f"/api/v1/labs/{world.lab_a.public_id}/worklist", **bearer(world, "labtech_b")
        ).status_code
        == 404
    )
    assert not TubeResult.objects.exists()


def test_worklist_and_labs(world, client):
    tubes = received_tubes(world, 2)
    token = bearer(world, "labtech_a")
    rows = client.get(f"/api/v1/labs/{world.lab_a.public_id}/worklist", **token).json()
    assert [r["tube"] for r in rows] == [t.code for t in tubes]
    assert rows[0]["people"] == 3 and rows[0]["level"] == "ok"
    labs = client.get("/api/v1/labs", **token).json()
    assert [lab["code"] for lab in labs] == [world.lab_a.code]
