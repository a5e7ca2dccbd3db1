"""Input attacks: bodies over the limits, mass assignment, hostile lab result files.

Everything goes through the real views and API with the personas of the shared world;
each refusal is a clear translated answer, and nothing is written."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook

from swabline.campaigns.models import Site
from swabline.labs import uploads
from swabline.labs.models import ResultUpload, TubeResult
from swabline.labs.uploads import cell_text
from swabline.people.models import Person
from swabline.shipping.models import Shipment
from tests.labs.helpers import received_tubes

pytestmark = pytest.mark.django_db
EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}
TOO_LARGE = "The request is too large. Send less at a time."


# --- Oversized bodies ----------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413_json_translated(world: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"events": [], "pad": "x" * 20_000})
    client = world.client_for("sampler_a")
    response = client.post("/api/v1/station/events", body, content_type="application/json", **EN)
    assert (response.status_code, response.json()) == (413, {"detail": TOO_LARGE})
    anonymous = Client().post("/api/v1/registrations", body, content_type="application/json", **EN)
    assert (anonymous.status_code, anonymous.json()) == (413, {"detail": TOO_LARGE})


def test_a_form_over_the_limits_is_413_with_a_page(world: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    huge = Client().post("/register/", {"h-address": "x" * 20_000}, **EN)
    assert huge.status_code == 413 and TOO_LARGE in huge.content.decode()
    fields = {f"m-{i}-full_name": "A" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    many = Client().post("/register/", fields, **EN)
    assert many.status_code == 413 and TOO_LARGE in many.content.decode()
    assert "Content-Security-Policy" in many
    assert not Person.objects.exists()


def test_an_unreadable_request_is_a_translated_400(world: Any) -> None:
    response = Client().get("/healthz", HTTP_HOST="evil.example", **EN)
    assert response.status_code == 400
    assert "The request could not be read." in response.content.decode()


def test_file_caps_refuse_big_uploads_cleanly(world: Any, settings: Any) -> None:
    """A list over PEOPLE_IMPORT_MAX_BYTES and a results file over the lab's 50 MB
    cap are refused with the reason; nothing is kept."""
    settings.PEOPLE_IMPORT_MAX_BYTES = 1_000
    listing = SimpleUploadedFile("big.csv", b"Ho va ten,Ngay sinh\r\n" + b"A,1990\r\n" * 500)
    client = world.client_for("dataentry_a")
    page = client.post(
        "/people/import/", {"place": world.ward_a.pk, "mode": "valid_rows", "file": listing}, **EN
    )
    assert page.status_code == 200 and "larger than" in page.content.decode()
    results = SimpleUploadedFile("run.csv", b"x" * (50 * 1024 * 1024 + 1))
    lab = world.client_for("labtech_a")
    page = lab.post(f"/labs/{world.lab_a.public_id}/uploads/", {"file": results}, **EN)
    assert page.status_code == 200 and "The file is larger than 50 MB." in page.content.decode()
    assert not ResultUpload.objects.exists()


# --- Mass assignment -----------------------------------------------------------------

FORBIDDEN = {
    "public_id": "AAAAAAAAAAAAAAAAAAAAAA",
    "province_code": "99",
    "code": "ZZZZ-ZZZZ",
    "qr_token": "X" * 26,
    "status": "received",
    "created_by": 1,
    "is_staff": True,
    "is_superuser": True,
    "source": "import",
    "merged_into": 1,
    "id": 999,
}


def test_registration_ignores_fields_it_does_not_offer(world: Any) -> None:
    member = {"full_name": "Võ Thị Sáu", "birth": "1933", "sex": "F"} | FORBIDDEN
    payload = {"members": [member], "phone": "0912345678", "ward_code": world.ward_a.code}
    response = Client().post(
        "/api/v1/registrations", json.dumps(payload | FORBIDDEN), content_type="application/json"
    )
    assert response.status_code == 201
    person = Person.objects.get()
    assert person.public_id == response.json()["people"][0]["public_id"] != FORBIDDEN["public_id"]
    assert (person.province_code, person.source) == (world.province.code, "self")
    assert FORBIDDEN["code"] not in (person.code, person.display_code)
    assert person.qr_token != FORBIDDEN["qr_token"] and person.merged_into_id is None
    assert person.pk != 999


def test_the_registration_form_ignores_extra_fields(world: Any) -> None:
    from tests.people.test_views import form_data

    data = form_data(world.ward_a.code) | {f"m-0-{k}": str(v) for k, v in FORBIDDEN.items()}
    data |= {f"h-{k}": str(v) for k, v in FORBIDDEN.items()}
    response = world.client_for("dataentry_a").post("/people/new/", data)
    assert response.status_code == 302
    person = Person.objects.get()
    assert person.public_id != FORBIDDEN["public_id"] and person.province_code != "99"
    assert person.source == "staff" and person.code != FORBIDDEN["code"]


def test_a_shipment_cannot_be_created_in_a_state_or_by_someone_else(world: Any) -> None:
    body = {"site": str(world.site_a.public_id), "lab": str(world.lab_a.public_id)}
    body |= {"status": "received", "created_by": world.users["admin"].pk, "province_code": "99",
             "public_id": "00000000-0000-0000-0000-000000000001", "received_at": "2020-01-01"}  # fmt: skip
    from swabline.accounts import services as accounts

    _, raw = accounts.issue_token(user=world.users["courier_a"], name="t")
    response = Client().post(
        "/api/v1/shipments", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code in (200, 201), response.content
    shipment = Shipment.objects.get()
    assert shipment.status == "packing" and shipment.received_at is None
    assert shipment.created_by == world.users["courier_a"]
    assert str(shipment.public_id) != body["public_id"]
    assert shipment.province_code == world.province.code


def test_no_one_makes_themself_staff_through_a_form(world: Any) -> None:
    """No page offers a user's own flags; posting them anywhere a user can post changes
    nothing (the admin is for superusers)."""
    user = world.users["ward_a"]
    client = world.client_for("ward_a")
    for url in ("/", "/people/new/", f"/admin/accounts/user/{user.pk}/change/"):
        client.post(url, {"is_staff": "on", "is_superuser": "on", "groups": "1"})
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_a_site_cannot_be_moved_by_a_stations_request(world: Any) -> None:
    """The station API names its site; the site's own ward and campaign never follow
    what a client sends."""
    before = Site.objects.values_list("ward_id", "campaign_id").get(pk=world.site_a.pk)
    client = world.client_for("sampler_a")
    body = {"site": str(world.site_a.public_id), "events": [], "ward": world.ward_c.pk,
            "campaign": 999, "province_code": "99"}  # fmt: skip
    client.post("/api/v1/station/events", json.dumps(body), content_type="application/json")
    assert Site.objects.values_list("ward_id", "campaign_id").get(pk=world.site_a.pk) == before


# --- Hostile lab result files --------------------------------------------------------

HEADER = ["Well", "Sample Name", "Result"]
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in [HEADER, *rows]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rezip(data: bytes, change: Any = None, add: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            body = source.read(item)
            target.writestr(item, change(item.filename, body) if change else body)
        for name, body in (add or {}).items():
            target.writestr(name, body)
    return out.getvalue()


def _upload(world: Any, data: bytes, name: str) -> str:
    """Upload through the lab's page and open the upload as the technician would."""
    client = world.client_for("labtech_a")
    base = f"/labs/{world.lab_a.public_id}/uploads/"
    response = client.post(base, {"file": SimpleUploadedFile(name, data)}, **EN)
    assert response.status_code == 302, response.content
    page = client.get(response["Location"], **EN)
    assert page.status_code == 200
    return page.content.decode()


def _refusal(html: str) -> str:
    match = re.search(r'data-testid="upload-refused">([^<]*)<', html)
    return match.group(1) if match else ""


def test_a_zip_bomb_results_file_is_refused_before_parsing(world: Any) -> None:
    [tube] = received_tubes(world)
    bomb = _rezip(_xlsx([["A1", tube.code, "negative"]]),
                  add={"xl/media/image1.png": b"\0" * (20 * 1024 * 1024)})  # fmt: skip
    assert len(bomb) < 200_000
    assert "expands to far more data" in _refusal(_upload(world, bomb, "bomb.xlsx"))
    assert not TubeResult.objects.exists()


def test_xml_entities_in_a_results_file_are_refused(world: Any) -> None:
    [tube] = received_tubes(world)

    def laughs(name: str, body: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return body
        return BILLION_LAUGHS + (body.split(b"?>", 1)[1] if body.startswith(b"<?xml") else body)

    hostile = _rezip(_xlsx([["A1", tube.code, "negative"]]), change=laughs)
    assert "XML entity declarations" in _refusal(_upload(world, hostile, "lol.xlsx"))
    assert not TubeResult.objects.exists()


def test_macros_in_a_results_file_are_never_run_and_values_are_read(world: Any) -> None:
    [tube] = received_tubes(world)
    macro = _rezip(_xlsx([["A1", tube.code, "negative"]]),
                   add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 not really VBA"})  # fmt: skip
    html = _upload(world, macro, "run.xlsm")
    assert _refusal(html) == "" and "Sample Name" in html
    prepared = uploads.prepare(ResultUpload.objects.get())
    assert [cell_text(c) for c in prepared.table.rows[1]] == ["A1", tube.code, "negative"]


def test_a_results_sheet_too_big_to_read_whole_is_refused(world: Any, settings: Any) -> None:
    settings.PEOPLE_IMPORT_MAX_XLSX_ROWS = 5
    tubes = received_tubes(world, 1)
    rows = [["A1", tubes[0].code, "negative"]] * 40
    assert "at most 5 rows are accepted" in _refusal(_upload(world, _xlsx(rows), "huge.xlsx"))
    assert not TubeResult.objects.exists()


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"PK\x03\x04 not a zip at all", "run.xlsx", "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "run.xls", "old Excel file"),
        (b"\x00\x01\x02\xff" * 100, "run.csv", "No header row"),
    ],
)
def test_broken_results_files_are_refused_with_the_reason(world: Any, data: bytes, name: str,
                                                         reason: str) -> None:  # fmt: skip
    refusal = _refusal(_upload(world, data, name))
    assert reason in refusal, refusal
    assert not TubeResult.objects.exists()


# --- Text no database column can take ------------------------------------------------

UNSTORABLE = "The request holds characters that cannot be stored."


def test_nul_and_lone_surrogates_are_refused_before_the_database(world: Any) -> None:
    """Schemathesis found it on PostgreSQL: a NUL in a JSON string reached a query and
    answered 500. Every way in (JSON escapes, raw bytes, query strings, forms) is a
    translated 400 now, on both databases."""
    token = json.dumps({"username": "ward\u0000a", "password": "x"})
    response = Client().post("/api/v1/auth/token", token, content_type="application/json", **EN)
    assert (response.status_code, response.json()) == (400, {"detail": UNSTORABLE})
    lone = json.dumps({"members": [{"full_name": "V\udede", "birth": "1990", "sex": "F"}],
                       "phone": "0912345678", "ward_code": world.ward_a.code})  # fmt: skip
    response = Client().post("/api/v1/registrations", lone, content_type="application/json", **EN)
    assert (response.status_code, response.json()) == (400, {"detail": UNSTORABLE})
    page = world.client_for("ward_a").get("/people/", {"q": "a\x00b"}, **EN)
    assert page.status_code == 400 and UNSTORABLE in page.content.decode()
    form = world.client_for("ward_a").post("/lookup/help/", {"q": "\x00"}, **EN)
    assert form.status_code == 400
    assert not Person.objects.exists()


def test_escaped_text_that_is_storable_passes(world: Any) -> None:
    """A proper surrogate pair (an emoji) and an escaped backslash are ordinary text."""
    member = {"full_name": "Võ Thị Sáu", "birth": "1933", "sex": "F"}
    payload = {"members": [member], "phone": "0912345678", "ward_code": world.ward_a.code,
               "address": "Hẻm \U0001f600 \\u0000"}  # fmt: skip
    response = Client().post(
        "/api/v1/registrations", json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 201, response.content


def test_a_form_posted_where_json_is_expected_is_a_clean_400(world: Any) -> None:
    """The backfill's JSON endpoints read the raw body; a multipart form sent there
    (its fields checked first) is "not valid JSON", not a server error."""
    client = world.client_for("dataentry_a")
    response = client.post("/backfill/register/", {"site": str(world.site_a.public_id)}, **EN)
    assert response.status_code == 400, response.content
    response = client.post("/backfill/register/", {"note": "a\x00b"}, **EN)
    assert response.status_code == 400 and UNSTORABLE in response.content.decode()
