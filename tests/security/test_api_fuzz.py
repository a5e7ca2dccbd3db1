"""Schemathesis over `/api/v1/openapi.json`: every operation gets generated valid and
invalid requests (bodies, query strings, headers, path parameters), sent in process
through Django's test client with an administrator's token (the widest reach), and
must never answer a server error. Each operation runs twice: with generated path
parameters, and with path parameters naming real objects so the body reaches the
handler. Examples are bounded (`API_FUZZ_EXAMPLES`, default 25 per mode) and the
seed is fixed, so a run is repeatable; raise the count to fuzz harder."""

from __future__ import annotations

import json
import os
from typing import Any, cast
from urllib.parse import urlencode

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as fuzzing
from schemathesis import GenerationMode

from swabline.api import api
from tests.security.places import Matrix

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
SCHEMA = schemathesis.openapi.from_dict(api.get_openapi_schema())
OPERATIONS: list[Any] = [cast(Any, result).ok() for result in SCHEMA.get_all_operations()]


def _real(m: Matrix) -> dict[str, str]:
    """Path parameters naming objects that exist (B's, which the admin may see)."""
    return {
        "public_id": m.b.person.public_id,
        "patient_id": m.b.person.public_id.replace("_", "."),
        "code": m.b.tube.code,
        "shipment_id": str(m.b.shipment.public_id),
        "lab": str(m.world.lab_b.public_id),
        "job_id": str(m.b.export.public_id),
        "file_name": "Patient.ndjson",
        "campaign": str(m.b.campaign.public_id),
        "channel": "sms",
    }


def _send(client: Client, case: Any, token: str) -> Any:
    kwargs = case.as_transport_kwargs(base_url="")
    path = kwargs["url"]
    if kwargs.get("params"):
        path += "?" + urlencode(kwargs["params"], doseq=True)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    content_type = headers.pop("Content-Type", "application/json")
    headers["Authorization"] = f"Bearer {token}"
    if "json" in kwargs:
        data: Any = json.dumps(kwargs["json"])
    else:
        data = kwargs.get("data") or b""
    return client.generic(
        kwargs["method"],
        path,
        data=data,
        content_type=content_type,
        headers={k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")},
    )


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.label for o in OPERATIONS])
def test_no_request_makes_a_server_error(matrix: Matrix, operation: Any) -> None:
    m = matrix
    client = Client(raise_request_exception=False)
    token = m.token("admin")["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    errors: list[str] = []

    names = {p.name for p in operation.path_parameters}
    real = {k: v for k, v in _real(m).items() if k in names}
    strategies = [
        operation.as_strategy(generation_mode=mode, path_parameters=params)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for params in ([None, real] if real else [None])
    ]
    for strategy in strategies:

        @seed(8)
        @fuzzing(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            response = _send(client, case, token)
            if response.status_code >= 500:
                errors.append(f"{response.status_code} {case.as_curl_command()}")

        run()
    assert errors == [], "\n".join(errors[:10])
