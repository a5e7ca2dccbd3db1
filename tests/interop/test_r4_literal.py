"""FHIR R4 (4.0.1) itself, not R4B: our Bundles and NDJSON files parse with the R4
models of fhir.resources 6.4.0, which run on pydantic 1 and so live in their own
environment (`.venv-fhir-r4`, built by `make test` from requirements-fhir-r4.lock).
See docs/decisions/0008-fhir-mapping.md for why there are two validators.

Without that environment the test fails in CI (`CI` or `REQUIRE_POSTGRES` set) and is
skipped on a developer's machine (`make fhir-r4-venv` builds it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from swabline.interop import fhir
from tests.interop import cases

pytestmark = pytest.mark.django_db

R4_PYTHON = Path(settings.BASE_DIR) / ".venv-fhir-r4" / "bin" / "python"
SCRIPT = Path(__file__).with_name("r4_validate.py")


def r4_python() -> Path:
    if R4_PYTHON.exists():
        return R4_PYTHON
    if os.environ.get("CI") or os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{R4_PYTHON} is missing: `make test` builds it (make fhir-r4-venv)")
    pytest.skip("no .venv-fhir-r4: run `make fhir-r4-venv` to validate against FHIR R4 itself")


def validate_r4(paths: list[Path]) -> str:
    done = subprocess.run(
        [str(r4_python()), str(SCRIPT), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "birthDate": "17/05/1980"},  # not a FHIR date
        {"resourceType": "Patient", "colour": "blue"},  # no such element
        {"resourceType": "SubscriptionTopic", "status": "active", "url": "x"},  # R4B only
        {"resourceType": "Bundle"},  # type is required
    ],
)
def test_the_r4_validator_refuses_what_r4_refuses(tmp_path, resource):
    """The check has teeth."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(resource))
    done = subprocess.run(
        [str(r4_python()), str(SCRIPT), str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stdout
    assert "INVALID" in done.stdout


def test_bundles_and_ndjson_are_fhir_r4(
    client, world, tmp_path, django_capture_on_commit_callbacks
):
    r4_python()
    c = cases.build(world)
    admin = world.users["admin"]
    headers = cases.token(admin)
    paths: list[Path] = []
    people = [
        c.negative, c.positive, c.corrected, c.year_only, c.bare, *c.pool_negative,
        *c.pool_positive, *c.rejected,
    ]  # fmt: skip
    for i, person in enumerate(people):
        for suffix in ("", "/$everything"):
            response = client.get(
                f"/api/v1/fhir/Patient/{fhir.patient_id(person.public_id)}{suffix}", **headers
            )
            assert response.status_code == 200
            paths.append(tmp_path / f"person-{i}{suffix.replace('/$', '-')}.json")
            paths[-1].write_bytes(response.content)
    search = client.get("/api/v1/fhir/DiagnosticReport?_count=5", **headers)
    paths.append(tmp_path / "search.json")
    paths[-1].write_bytes(search.content)
    paths += export_files(client, admin, tmp_path, django_capture_on_commit_callbacks)
    out = validate_r4(paths)
    assert out.count("ok ") == len(paths)
    assert "FHIR 4.0.1" in out


def export_files(client: Any, user: Any, folder: Path, capture: Any) -> list[Path]:
    headers = cases.token(user)
    with capture(execute=True):
        kicked = client.get("/api/v1/fhir/$export", **headers)
    from tests.interop.test_export import run_enqueued

    run_enqueued()
    status = client.get(kicked["Content-Location"].removeprefix("http://testserver"), **headers)
    manifest = json.loads(status.content)
    paths = []
    for item in manifest["output"]:
        response = client.get(item["url"].removeprefix("http://testserver"), **headers)
        path = folder / f"{item['type']}.ndjson"
        path.write_bytes(b"".join(response.streaming_content))
        paths.append(path)
    assert len(paths) == 6
    return paths
