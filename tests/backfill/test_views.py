"""The backfill pages, their JSON calls, the API, the backlog figures and the
spreadsheet path: scoped, refused to the wrong role or place, atomic."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.backfill import queries, services, spreadsheet
from swabline.backfill.models import BackfillUpload, LateEntry, PaperBacklog
from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from tests.backfill.helpers import enter, names_missing
from tests.factories import PersonFactory
from tests.sampling.factories import labels, people

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _json(client, name, body):
    return client.post(reverse(name), json.dumps(body), content_type="application/json", **EN)


def test_the_screen_warns_of_tubes_waiting_for_their_names(world):
    [t] = names_missing(world)
    page = world.client_for("dataentry_a").get(reverse("backfill:home"), **EN)
    assert 'data-testid="bf-waiting"' in page.content.decode()
    other = world.client_for("sampler_a").get(reverse("backfill:home"), **EN)
    assert 'data-testid="bf-waiting"' in other.content.decode()  # site A's own sampler
    enter(world, t.code, 1)
    page = world.client_for("dataentry_a").get(reverse("backfill:home"), **EN)
    assert 'data-testid="bf-waiting"' not in page.content.decode()


def test_the_screen_opens_for_backfill_roles_and_is_refused_to_others(world):
    assert world.client_for("dataentry_a").get(reverse("backfill:home"), **EN).status_code == 200
    assert world.client_for("sampler_a").get(reverse("backfill:home"), **EN).status_code == 200
    for user in ("labtech_a", "courier_a", "ward_a", "nobody"):
        assert world.client_for(user).get(reverse("backfill:home"), **EN).status_code == 403


def test_find_register_and_enter_through_the_screen_calls(world):
    client = world.client_for("dataentry_a")
    site = str(world.site_a.public_id)
    person = PersonFactory.create(ward=world.ward_a, full_name="Nguyễn Văn Bình", birth_year=1980)
    found = client.get(reverse("backfill:find"), {"site": site, "q": "nguyen van binh 1980"}, **EN)
    assert [p["id"] for p in found.json()["people"]] == [person.public_id]
    assert "problem" not in found.json()["people"][0]
    made = _json(
        client,
        "backfill:register",
        {"site": site, "client_id": str(uuid.uuid4()), "full_name": "Trần Thị Cúc",
         "birth": "1975", "sex": "F", "phone": ""},
    )  # fmt: skip
    assert made.status_code == 200, made.content
    new_id = made.json()["person"]["id"]
    [code] = labels(world, 1, site=world.site_a)
    body = {
        "site": site, "client_id": str(uuid.uuid4()), "code": code, "sheet_ref": "Sổ 3 / trang 2",
        "collected_at": (timezone.localtime() - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"),
        "people": [person.public_id, new_id], "duration_seconds": 21.5,
    }  # fmt: skip
    response = _json(client, "backfill:enter", body)
    assert response.status_code == 200, response.content
    assert response.json()["people"] == 2
    entry = LateEntry.objects.get(tube__code=code)
    assert entry.duration_seconds == 21.5 and entry.sheet_ref == "Sổ 3 / trang 2"
    again = _json(client, "backfill:enter", body)
    assert again.json()["replayed"] is True and LateEntry.objects.count() == 1
    # Now sampled: the row search says so before the next tube is closed.
    found = client.get(reverse("backfill:find"), {"site": site, "q": "nguyen van binh 1980"}, **EN)
    assert found.json()["people"][0]["sampled_in"] == code


def test_screen_calls_refuse_a_site_outside_the_users_places(world):
    client = world.client_for("dataentry_a")
    site_b = str(world.site_b.public_id)
    assert client.get(reverse("backfill:find"), {"site": site_b, "q": "a"}, **EN).status_code == 404
    [code] = labels(world, 1, site=world.site_b)
    body = {"site": site_b, "client_id": str(uuid.uuid4()), "code": code, "sheet_ref": "x",
            "collected_at": "2026-01-01T08:00", "people": []}  # fmt: skip
    assert _json(client, "backfill:enter", body).status_code == 404
    assert not Tube.objects.filter(code=code).exists()


def test_enter_answers_field_errors(world):
    client = world.client_for("dataentry_a")
    body = {"site": str(world.site_a.public_id), "client_id": str(uuid.uuid4()), "code": "123",
            "sheet_ref": "", "collected_at": "", "people": []}  # fmt: skip
    response = _json(client, "backfill:enter", body)
    assert response.status_code == 400
    assert {"code", "sheet_ref", "collected_at", "people"} <= set(response.json()["errors"])


def test_names_missing_page_is_scoped_and_lists_the_alarm(world, django_assert_max_num_queries):
    [t] = names_missing(world, result="negative")
    url = reverse("backfill:names-missing")
    official = world.client_for("ward_a")
    official.get(url, **EN)  # the session is made
    with django_assert_max_num_queries(12):
        page = official.get(url, {"campaign": world.campaign.pk}, **EN)
    assert page.status_code == 200
    assert f'data-testid="missing-{t.code}"' in page.content.decode()
    other = world.client_for("ward_b").get(url, {"campaign": world.campaign.pk}, **EN)
    assert t.code not in other.content.decode()
    place = world.client_for("province").get(
        url, {"campaign": world.campaign.pk, "place": world.ward_b.code}, **EN
    )
    assert t.code not in place.content.decode()
    for user in ("labtech_a", "courier_a", "nobody"):
        assert world.client_for(user).get(url, **EN).status_code == 403


def test_release_from_the_review_page_skips_a_names_missing_tube(world):
    [t] = names_missing(world, result="negative")
    client = world.client_for("labsupervisor_a")
    review = reverse("labs:review", args=[world.lab_a.public_id])
    page = client.get(review, **EN)
    assert f'data-testid="names-missing-{t.code}"' in page.content.decode()
    response = client.post(review, {"tube": [t.code]}, follow=True, **EN)
    assert "waits for its names" in response.content.decode()
    assert TubeResult.objects.get(tube=t, current=True).state == ResultState.ENTERED
    t.refresh_from_db()
    assert t.status == TubeStatus.RESULTED


def test_backlog_figures(world, django_assert_max_num_queries):
    names_missing(world, count=2)
    services.declare_backlog(by=world.users["dataentry_a"], site=world.site_a, tubes=5)
    for _ in range(2):
        [code] = labels(world, 1, site=world.site_a)
        enter(world, code, 2, duration_seconds=30.0)
    [code] = labels(world, 1, site=world.site_a)
    enter(world, code, 2, duration_seconds=50.0)
    with django_assert_max_num_queries(7):
        b = queries.backlog(world.users["province"], world.campaign)
    site_a = next(s for s in b.sites if s.site == world.site_a)
    f = site_a.figures
    assert f.paper_declared == 2  # 5 declared, 3 entered since
    assert f.names_missing == 2 and f.names_missing_max_age_hours is not None
    assert f.entries == 3
    assert f.entry_seconds_median == 30.0 and f.entry_seconds_p90 == pytest.approx(46.0)
    assert f.delay_hours_median == pytest.approx(3.0, abs=0.01)
    assert (f.labels_issued, f.labels_used) == (5, 5)  # 2 received without names, 3 entered
    [ward] = [w for w in b.wards if w.ward == world.ward_a]
    assert ward.figures.names_missing == 2 and b.total.names_missing == 2
    by_code = queries.backlog(world.users["province"], world.campaign, world.ward_b.code)
    assert by_code.total.names_missing == 0 and by_code.place == world.ward_b
    # Scoped: ward B's official sees none of site A.
    assert queries.backlog(world.users["ward_b"], world.campaign).total.names_missing == 0


def test_percentile_matches_percentile_cont():
    assert queries.percentile([], 50) is None
    assert queries.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert queries.percentile([10.0, 20.0, 30.0, 40.0, 50.0], 90) == pytest.approx(46.0)


def test_declare_from_the_page(world):
    client = world.client_for("dataentry_a")
    response = client.post(
        reverse("backfill:declare"), {"site": world.site_a.public_id, "tubes": 7}, **EN
    )
    assert response.status_code == 302
    assert PaperBacklog.objects.get(site=world.site_a).tubes == 7
    refused = client.post(
        reverse("backfill:declare"), {"site": world.site_b.public_id, "tubes": 7}, **EN
    )
    assert refused.status_code == 404


# --- API -------------------------------------------------------------------------------


def bearer(world, name):
    _, raw = accounts.issue_token(user=world.users[name], name="backfill app")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}", **EN}


def test_api_entry_backlog_and_names_missing(client, world):
    [t] = names_missing(world, result="negative")
    members = people(world, 2)
    body = {
        "client_id": str(uuid.uuid4()), "site": str(world.site_a.public_id), "code": t.code,
        "sheet_ref": "API-1", "collected_at": timezone.now().isoformat(),
        "people": [p.public_id for p in members],
    }  # fmt: skip
    who = bearer(world, "dataentry_a")
    listed = client.get(
        "/api/v1/backfill/names-missing", {"campaign": str(world.campaign.public_id)}, **who
    )
    assert [r["code"] for r in listed.json()] == [t.code]
    response = client.post(
        "/api/v1/backfill/entries", json.dumps(body), content_type="application/json", **who
    )
    assert response.status_code == 200, response.content
    assert response.json()["names_missing"] is True and response.json()["releasable"] is True
    figures = client.get("/api/v1/backfill/backlog", {"campaign": world.campaign.pk}, **who)
    assert figures.json()["total"]["entries"] == 1
    assert figures.json()["total"]["names_missing"] == 0


def test_api_refuses_wrong_role_and_wrong_place(client, world):
    [code] = labels(world, 1, site=world.site_b)
    body = {
        "client_id": str(uuid.uuid4()), "site": str(world.site_b.public_id), "code": code,
        "sheet_ref": "x", "collected_at": timezone.now().isoformat(), "people": [],
    }  # fmt: skip
    wrong_place = client.post(
        "/api/v1/backfill/entries", json.dumps(body), content_type="application/json",
        **bearer(world, "dataentry_a"),
    )  # fmt: skip
    assert wrong_place.status_code == 404
    wrong_role = client.post(
        "/api/v1/backfill/entries", json.dumps(body), content_type="application/json",
        **bearer(world, "labtech_a"),
    )  # fmt: skip
    assert wrong_role.status_code == 403
    backlog = client.get(
        "/api/v1/backfill/backlog", {"campaign": world.campaign.pk}, **bearer(world, "labtech_a")
    )
    assert backlog.status_code == 403


# --- Spreadsheet -------------------------------------------------------------------------


def _xlsx(rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([str(title) for _k, title in spreadsheet.COLUMNS])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_template_reads_back_with_its_headers_as_text(world):
    response = world.client_for("dataentry_a").get(reverse("backfill:template"), **EN)
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert list(rows[0]) == [str(t) for _k, t in spreadsheet.COLUMNS]
    assert all(c.data_type == "s" for c in book.active[2] if c.value not in (None, ""))
    assert book.active["F2"].value == "1980"  # a year kept as text, not a number


def test_upload_is_all_or_nothing_and_not_twice(world):
    known = PersonFactory.create(ward=world.ward_a)
    [a, b] = labels(world, 2, site=world.site_a)
    when = "2026-01-31 08:30"
    bad = _xlsx([
        [a, when, "S1", known.code, "", "", "", "", ""],
        [a, when, "S1", "", "Lê Văn Dũng", "1990", "M", "", ""],
        [b, "yesterday", "S2", "", "Phạm Thị E", "1985", "X", "", ""],
        [b, when, "S2", "NOT-A-CODE", "", "", "", "", ""],
    ])  # fmt: skip
    record, errors = spreadsheet.upload(
        by=world.users["dataentry_a"], site=world.site_a, file_name="bad.xlsx", content=bad
    )
    assert record is None
    assert {e.row for e in errors} == {4, 5}
    assert not LateEntry.objects.exists() and not BackfillUpload.objects.exists()
    good = _xlsx([
        [a, when, "S1", known.code, "", "", "", "", ""],
        [a, when, "S1", "", "Lê Văn Dũng", "1990", "M", "", ""],
        [b, when, "S2", "", "=cmd|' /C calc'!A0", "1985", "F", "", ""],
    ])  # fmt: skip
    client = world.client_for("dataentry_a")
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = client.post(
        reverse("backfill:upload"),
        {"site": str(world.site_a.public_id), "file": SimpleUploadedFile("good.xlsx", good)},
        **EN,
    )
    assert page.status_code == 200
    body = page.content.decode()
    # A formula-looking name is refused by the people rules, with its row: nothing saved.
    assert 'data-testid="upload-errors"' in body and "<td>4</td>" in body
    assert not LateEntry.objects.exists()
    good = _xlsx([
        [a, when, "S1", known.code, "", "", "", "", ""],
        [a, when, "S1", "", "Lê Văn Dũng", "1990", "M", "", ""],
        [b, when, "S2", "", "Phạm Thị Em", "1985", "F", "", ""],
    ])  # fmt: skip
    record, errors = spreadsheet.upload(
        by=world.users["dataentry_a"], site=world.site_a, file_name="good.xlsx", content=good
    )
    assert errors == [] and record is not None
    assert (record.tubes, record.people) == (2, 3)
    assert LateEntry.objects.filter(upload=record).count() == 2
    assert Tube.objects.get(code=a).member_count == 2
    again, errors = spreadsheet.upload(
        by=world.users["dataentry_a"], site=world.site_a, file_name="good.xlsx", content=good
    )
    assert again == record and LateEntry.objects.count() == 2


def test_upload_page_is_refused_to_other_roles(world):
    assert world.client_for("labtech_a").get(reverse("backfill:upload"), **EN).status_code == 403
    assert world.client_for("ward_a").get(reverse("backfill:template"), **EN).status_code == 403


def test_home_cards_lead_to_the_backfill_pages(world):
    official = world.client_for("ward_a").get("/", **EN).content.decode()
    assert f'href="{reverse("backfill:names-missing")}"' in official
    volunteer = world.client_for("dataentry_a").get("/", **EN).content.decode()
    assert f'href="{reverse("backfill:home")}"' in volunteer
    lab = world.client_for("labtech_a").get("/", **EN).content.decode()
    assert reverse("backfill:home") not in lab


def test_the_command_center_panel_shows_the_paper_backlog_in_scope(
    world, django_assert_max_num_queries
):
    [t] = names_missing(world)
    url = reverse("backfill:backlog-panel")
    where = {"campaign": str(world.campaign.public_id), "place": world.province.code}
    province = world.client_for("province")
    province.get(url, where, **EN)  # the session is made
    with django_assert_max_num_queries(12):
        panel = province.get(url, where, **EN).content.decode()
    assert 'data-figure="names_missing">1<' in panel
    assert "backfill/names-missing/" in panel
    # A ward B official asking for the province sees none of ward A's tubes.
    other = world.client_for("ward_b").get(url, where, **EN).content.decode()
    assert 'data-figure="names_missing">0<' in other
    for user in ("labtech_a", "courier_a", "nobody"):
        assert world.client_for(user).get(url, where, **EN).status_code == 403
    assert t.names_missing_since is not None


def test_the_progress_page_loads_the_paper_backlog_panel(world):
    page = world.client_for("province").get(
        reverse("dashboard:progress", args=[world.campaign.public_id]), **EN
    )
    html = page.content.decode()
    assert 'data-testid="paper-backlog"' in html
    assert reverse("backfill:backlog-panel") in html
