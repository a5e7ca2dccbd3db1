"""Bulk NDJSON export (FHIR Bulk Data): kick-off, status, manifest, files; scope by
place and by consent; the worker runs the real task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.interop import exporting, fhir, tasks
from swabline.interop.enums import ExportStatus
from swabline.interop.models import BulkExport
from tests.interop import cases
from tests.interop.validation import validate_r4b

pytestmark = pytest.mark.django_db

API = "/api/v1/fhir"


@pytest.fixture
def c(world):
    return cases.build(world)


def kick_off(client: Any, user: Any, query: str = "", capture: Any = None) -> Any:
    headers = cases.token(user)
    with translation.override("en"):
        return client.get(
            f"{API}/$export{query}",
            HTTP_ACCEPT="application/fhir+json",
            HTTP_PREFER="respond-async",
            **headers,
        )


def run_worker() -> None:
    """The real worker; it closes the database connection, so only tests marked
    `django_db(transaction=True)` may call it (on PostgreSQL)."""
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)


def run_enqueued() -> None:
    """What the worker would do with each queued export, in this test's transaction."""
    from django_tasks_db.models import DBTaskResult

    for row in DBTaskResult.objects.filter(status="READY").order_by("enqueued_at"):
        args = row.args_kwargs["args"]
        tasks.run_fhir_export.call(*args)
        DBTaskResult.objects.filter(pk=row.pk).update(status="SUCCESSFUL")


def export(client: Any, user: Any, query: str, capture: Any) -> tuple[Any, dict[str, Any]]:
    """Kick off, run the worker, poll: the status URL and the manifest."""
    with capture(execute=True):
        response = kick_off(client, user, query)
    assert response.status_code == 202, response.content
    status_url = response["Content-Location"]
    assert status_url.startswith("http://testserver/api/v1/fhir/$export-status/")
    run_enqueued()
    done = client.get(status_url.removeprefix("http://testserver"), **cases.token(user))
    assert done.status_code == 200, done.content
    return status_url, json.loads(done.content)


def lines(client: Any, user: Any, url: str) -> list[dict[str, Any]]:
    response = client.get(url.removeprefix("http://testserver"), **cases.token(user))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    text = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in text.splitlines()]


def files(client: Any, user: Any, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out = {item["type"]: lines(client, user, item["url"]) for item in manifest["output"]}
    for item in manifest["output"]:
        assert item["count"] == len(out[item["type"]])
    return out


def ids(resources: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in resources}


def test_an_admin_exports_everything_as_valid_ndjson(
    client, world, c, django_capture_on_commit_callbacks
):
    admin = world.users["admin"]
    _, manifest = export(client, admin, "", django_capture_on_commit_callbacks)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == "http://testserver/api/v1/fhir/$export"
    assert [o["type"] for o in manifest["output"]] == [
        "Patient", "Organization", "Group", "Specimen", "Observation", "DiagnosticReport"
    ]  # fmt: skip
    out = files(client, admin, manifest)
    for resources in out.values():
        for resource in resources:
            validate_r4b(resource)
    # 14 people sampled, each once in Patient; 15 reports; pools once each.
    assert len(out["Patient"]) == len(ids(out["Patient"])) == 14
    assert len(out["DiagnosticReport"]) == 15
    assert len(out["Group"]) == 3  # negative, positive and rejected pools
    assert [o["name"] for o in out["Organization"]] == ["Lab A"]
    # 15 people's specimens + 3 pool specimens; observations: none for the 2 rejected.
    assert len(out["Specimen"]) == 18
    assert len(out["Observation"]) == 13 + 2
    every = {f"{r['resourceType']}/{r['id']}" for rs in out.values() for r in rs}
    from tests.interop.validation import references

    assert {ref for rs in out.values() for r in rs for ref in references(r)} <= every
    job = BulkExport.objects.get()
    assert (job.status, job.rows_total, job.rows_done) == (ExportStatus.DONE, 15, 15)
    event = AuditEvent.objects.get(action="fhir.exported")
    assert event.data["DiagnosticReport"] == 15


def test_a_ward_officer_exports_only_their_ward(
    client, world, c, django_capture_on_commit_callbacks
):
    user = world.users["ward_b"]
    _, manifest = export(client, user, "", django_capture_on_commit_callbacks)
    out = files(client, user, manifest)
    assert ids(out["Patient"]) == {fhir.patient_id(c.other_ward.public_id)}
    assert len(out["DiagnosticReport"]) == 1


def test_a_province_officer_exports_the_province(
    client, world, c, django_capture_on_commit_callbacks
):
    user = world.users["province"]
    _, manifest = export(client, user, "", django_capture_on_commit_callbacks)
    patients = ids(files(client, user, manifest)["Patient"])
    assert len(patients) == 13
    assert fhir.patient_id(c.other_province.public_id) not in patients


def test_a_partner_exports_only_consented_people(
    client, world, c, django_capture_on_commit_callbacks
):
    partner = cases.partner(world)
    _, nothing = export(client, partner, "", django_capture_on_commit_callbacks)
    assert nothing["output"] == []
    cases.consent(c.pool_positive[0], partner)
    _, manifest = export(
        client, partner, "?_type=Patient,DiagnosticReport", django_capture_on_commit_callbacks
    )
    out = files(client, partner, manifest)
    assert set(out) == {"Patient", "DiagnosticReport"}
    assert ids(out["Patient"]) == {fhir.patient_id(c.pool_positive[0].public_id)}
    assert len(out["DiagnosticReport"]) == 2


def test_the_date_range_selects_by_issued(client, world, c, django_capture_on_commit_callbacks):
    admin = world.users["admin"]
    _, later = export(
        client, admin, "?_since=2999-01-01T00:00:00Z", django_capture_on_commit_callbacks
    )
    assert later["output"] == []
    _, until = export(client, admin, "?_until=2000-01-01", django_capture_on_commit_callbacks)
    assert until["output"] == []
    _, window = export(
        client, admin, "?_since=2000-01-01&_until=2999-12-31&_type=DiagnosticReport",
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert window["output"] == [
        {"type": "DiagnosticReport", "url": window["output"][0]["url"], "count": 15}
    ]


def test_status_and_files_belong_to_the_requester(
    client, world, c, django_capture_on_commit_callbacks
):
    status_url, manifest = export(
        client, world.users["province"], "", django_capture_on_commit_callbacks
    )
    path = status_url.removeprefix("http://testserver")
    file_url = manifest["output"][0]["url"].removeprefix("http://testserver")
    for other in ("ward_a", "admin"):
        assert client.get(path, **cases.token(world.users[other])).status_code == 404
        assert client.get(file_url, **cases.token(world.users[other])).status_code == 404
    assert client.get(file_url).status_code == 401
    own = cases.token(world.users["province"])
    assert (
        client.get(
            f"{API}/$export-file/{status_url.rsplit('/', 1)[1]}/Secret.ndjson", **own
        ).status_code
        == 404
    )


def test_status_while_waiting_then_delete(client, world, c, django_capture_on_commit_callbacks):
    admin = world.users["admin"]
    with django_capture_on_commit_callbacks(execute=True):
        response = kick_off(client, admin)
    path = response["Content-Location"].removeprefix("http://testserver")
    waiting = client.get(path, **cases.token(admin))
    assert (waiting.status_code, waiting["X-Progress"], waiting["Retry-After"]) == (
        202,
        "waiting",
        "5",
    )
    BulkExport.objects.update(status=ExportStatus.RUNNING, rows_total=15, rows_done=6)
    running = client.get(path, **cases.token(admin))
    assert (running.status_code, running["X-Progress"]) == (202, "40% (6/15)")
    assert client.delete(path, **cases.token(admin)).status_code == 202
    assert client.get(path, **cases.token(admin)).status_code == 404
    run_enqueued()  # the cancelled export is skipped
    assert BulkExport.objects.get().status == ExportStatus.CANCELLED


def test_progress_while_running(world, c, settings):
    job = BulkExport.objects.create(
        requested_by=world.users["admin"], request_url="x", base_url="http://t/fhir",
        status=ExportStatus.RUNNING,
    )  # fmt: skip
    seen: list[tuple[int, int]] = []

    def progress(done: int) -> None:
        job.refresh_from_db()
        seen.append((job.rows_done, job.rows_total))

    output = exporting.write_export(job, chunk_size=4, on_progress=progress)
    assert seen == [(4, 15), (8, 15), (12, 15)]
    assert {o["type"]: o["count"] for o in output}["DiagnosticReport"] == 15
    assert sorted(p.name for p in Path(settings.FHIR_EXPORT_DIR, str(job.public_id)).iterdir()) == [
        "DiagnosticReport.ndjson", "Group.ndjson", "Observation.ndjson", "Organization.ndjson",
        "Patient.ndjson", "Specimen.ndjson",
    ]  # fmt: skip


def test_a_cancelled_export_stops_at_the_next_chunk(world, c):
    job = BulkExport.objects.create(
        requested_by=world.users["admin"], request_url="x", base_url="http://t/fhir",
        status=ExportStatus.RUNNING,
    )  # fmt: skip

    def cancel(done: int) -> None:
        BulkExport.objects.filter(pk=job.pk).update(status=ExportStatus.CANCELLED)

    with pytest.raises(exporting.Cancelled):
        exporting.write_export(job, chunk_size=4, on_progress=cancel)


@pytest.mark.parametrize("persona", ["sampler_a", "labtech_a", "courier_a", "nobody"])
def test_wrong_roles_cannot_export(client, world, persona):
    response = kick_off(client, world.users[persona])
    assert response.status_code == 403
    assert BulkExport.objects.count() == 0


@pytest.mark.parametrize(
    "query", ["?_type=Patient,Secret", "?_since=yesterday", "?_outputFormat=text/csv",
              "?_since=2026-02-01&_until=2026-01-01"],
)  # fmt: skip
def test_bad_kick_off_parameters(client, world, query):
    response = kick_off(client, world.users["admin"], query)
    assert response.status_code == 400
    assert json.loads(response.content)["resourceType"] == "OperationOutcome"
    assert BulkExport.objects.count() == 0


def test_a_failing_export_is_retried_then_marked_failed(world, c, monkeypatch, settings):
    from swabline.interop import services

    settings.TASK_MAX_ATTEMPTS = 1
    job = services.start_export(
        by=world.users["admin"], since=None, until=None, request_url="x", base_url="http://t/fhir"
    )

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr(exporting, "iter_reports", broken)
    with pytest.raises(ConnectionError):
        tasks.run_fhir_export.call(str(job.public_id))
    job.refresh_from_db()
    assert (job.status, job.failure) == (ExportStatus.FAILED, "ConnectionError")
    assert not exporting.export_dir(job).exists()


def test_the_export_sends_no_query_per_row(world, c, django_assert_max_num_queries):
    """The requester, the count, the rows (one statement, read in chunks), the final
    progress: the same few statements for 15 rows as for a million."""
    job = BulkExport.objects.create(
        requested_by=world.users["admin"], request_url="x", base_url="http://t/fhir",
        status=ExportStatus.RUNNING,
    )  # fmt: skip
    with django_assert_max_num_queries(6):
        exporting.write_export(job)


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_export(client, django_capture_on_commit_callbacks):
    from tests.conftest import build_world

    world = build_world()
    cases.build(world)
    admin = world.users["admin"]
    response = kick_off(client, admin)  # committed: the task is enqueued for real
    assert response.status_code == 202
    run_worker()
    done = client.get(
        response["Content-Location"].removeprefix("http://testserver"), **cases.token(admin)
    )
    assert done.status_code == 200
    assert {o["type"]: o["count"] for o in json.loads(done.content)["output"]}[
        "DiagnosticReport"
    ] == 15
    from django_tasks_db.models import DBTaskResult

    assert list(DBTaskResult.objects.values_list("status", flat=True)) == ["SUCCESSFUL"]


def test_finished_exports_expire_after_the_keeping_time(world, c, settings):
    import datetime as dt

    from django.utils import timezone

    from swabline.interop import services

    settings.FHIR_EXPORT_KEEP_HOURS = 24
    job = services.start_export(
        by=world.users["admin"], since=None, until=None, request_url="x", base_url="http://t/fhir"
    )
    tasks.run_fhir_export.call(str(job.public_id))
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE and exporting.export_dir(job).exists()
    assert services.prune_exports(now=timezone.now() + dt.timedelta(hours=23)) == 0
    assert services.prune_exports(now=timezone.now() + dt.timedelta(hours=25)) == 1
    job.refresh_from_db()
    assert (job.status, job.output) == (ExportStatus.EXPIRED, [])
    assert not exporting.export_dir(job).exists()
