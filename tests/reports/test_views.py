"""The reports' pages and documents: parsed back, scoped, refused to the wrong role
and the wrong place, and the positive list audited on every export."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pypdfium2
import pytest
from django.urls import reverse
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.reports.models import PoolSizePolicy
from tests.factories import CampaignFactory
from tests.reports.helpers import campaign_day

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def url(name: str, world: Any, **kwargs: Any) -> str:
    return reverse(f"reports:{name}", kwargs={"campaign_id": world.campaign.public_id, **kwargs})


def get(world: Any, user: str, path: str, **params: str) -> Any:
    return world.client_for(user).get(path, params, **EN)


def sheet_rows(content: bytes) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def pdf_text(content: bytes) -> str:
    document = pypdfium2.PdfDocument(content)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def table(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """The report's table: ward (or Total) → header → value."""
    start = next(i for i, row in enumerate(rows) if row and row[0] == "Ward")
    header = rows[start]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows[start + 1 :]}


# --- Daily report --------------------------------------------------------------------


def test_daily_xlsx_reads_back(world, django_assert_max_num_queries):
    campaign_day(world)
    client = world.client_for("province")
    with django_assert_max_num_queries(13):  # +1: the 2FA device (django-otp)
        response = client.get(url("daily", world, fmt="xlsx"), **EN)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    today = timezone.localdate().isoformat()
    assert f"{world.province.code}-{today}.xlsx" in response["Content-Disposition"]
    rows = sheet_rows(response.content)
    assert rows[0][0] == "Daily report"
    assert ("Campaign", world.campaign.name) == rows[1][:2]
    data = table(rows)
    assert list(data) == [world.ward_b.name, world.ward_a.name, "Total"]  # by name, then total
    a = data[world.ward_a.name]
    assert (a["Target population"], a["Registered"], a["People sampled"]) == (20, 9, 9)
    assert a["Coverage of target"] == pytest.approx(0.45)
    assert (a["Open"], a["Closed"], a["Released"], a["Positive pools"]) == (1, 1, 2, 1)
    assert (a["Recall pending"], a["Recollect pending"]) == (3, 0)
    total = data["Total"]
    assert (total["People sampled"], total["Tubes sampled"], total["Positive people"]) == (12, 6, 1)
    assert (total["Rejected by the lab"], total["Recollect pending"]) == (1, 2)
    assert total["Coverage of target"] == pytest.approx(0.4)


def test_daily_pdf_reads_back(world):
    campaign_day(world)
    response = get(world, "province", url("daily", world, fmt="pdf"), date="2026-01-05")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Daily report" in text and "05/01/2026" in text
    assert world.ward_a.name in text and world.ward_b.name in text and "Total" in text
    assert "45.0 %" in text and "40.0 %" in text  # ward A's and the total's coverage


def test_daily_for_a_ward_has_that_ward_only(world):
    campaign_day(world)
    response = get(world, "ward_a", url("daily", world, fmt="xlsx"))
    data = table(sheet_rows(response.content))
    assert list(data) == [world.ward_a.name, "Total"]
    assert data["Total"]["People sampled"] == 9
    # The province official can ask for the same ward explicitly.
    asked = get(world, "province", url("daily", world, fmt="xlsx"), place=world.ward_a.code)
    assert table(sheet_rows(asked.content)) == data


def test_daily_formula_text_stays_text(world):
    world.campaign.name = '=HYPERLINK("http://evil","x")'
    world.campaign.save(update_fields=["name"])
    response = get(world, "province", url("daily", world, fmt="xlsx"))
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    cell = book.active["B2"]
    assert cell.value == '=HYPERLINK("http://evil","x")'
    assert cell.data_type == "s" and cell.quotePrefix


def test_daily_bad_input(world):
    assert get(world, "province", url("daily", world, fmt="csv")).status_code == 404
    response = get(world, "province", url("daily", world, fmt="xlsx"), date="05/01/2026")
    assert response.status_code == 400
    assert b"YYYY-MM-DD" in response.content


# --- Positive list -------------------------------------------------------------------


def test_positive_list_export_is_audited(world):
    day = campaign_day(world)
    response = get(world, "province", url("positives", world))
    assert response.status_code == 200
    rows = sheet_rows(response.content)
    assert rows[0][:3] == ("Full name", "Year of birth", "Phone number")
    [row] = rows[1:]
    person = day.positive_person
    assert row[0] == person.full_name and row[1] == person.birth_year
    assert row[6] == day.positive_individual.code and row[7] == world.lab_a.name
    [event] = AuditEvent.objects.filter(action="reports.positives_exported")
    assert event.actor_id == world.users["province"].pk
    assert event.subject_id == str(world.campaign.pk)
    assert event.data == {"place": world.province.code, "rows": 1}
    assert event.at is not None and event.actor_label == "province"
    # Every export, not the first only.
    get(world, "ward_b", url("positives", world))
    assert AuditEvent.objects.filter(action="reports.positives_exported").count() == 2


def test_positive_list_of_a_ward_without_positives(world):
    campaign_day(world)
    response = get(world, "ward_a", url("positives", world))
    assert sheet_rows(response.content)[1:] == []
    assert AuditEvent.objects.get(action="reports.positives_exported").data["rows"] == 0


# --- Pages ---------------------------------------------------------------------------


def test_turnaround_page(world, django_assert_max_num_queries):
    campaign_day(world)
    client = world.client_for("province")
    with django_assert_max_num_queries(12):
        response = client.get(url("turnaround", world), **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="turnaround-ward"' in html and world.lab_a.name in html
    assert 'data-metric="receipt" data-count="4"' in html  # four tubes received
    assert reverse("reports:daily", args=[world.campaign.public_id, "xlsx"]) in html


def test_advisor_page_recommends(world):
    campaign_day(world)
    response = get(world, "province", url("advisor", world))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="advisor-sizes"' in html and "1, 3, 5, 10" in html
    # Ward A: a positive and a negative pool of 3 and 4 (recall tubes left out).
    assert f'data-place="{world.ward_a.code}" data-recommended="' in html
    assert 'data-testid="advisor-sizes-form"' in html


def test_advisor_sizes_within_limit(world):
    client = world.client_for("province")
    client.post(url("advisor", world), {"sizes": "4, 8"}, **EN)
    assert PoolSizePolicy.objects.get(campaign=world.campaign).sizes == [1, 4, 8]
    assert AuditEvent.objects.filter(action="reports.pool_sizes_set").count() == 1
    response = client.post(url("advisor", world), {"sizes": "5, 20"}, follow=True, **EN)
    assert "between 1 and the campaign" in response.content.decode()
    assert PoolSizePolicy.objects.get(campaign=world.campaign).sizes == [1, 4, 8]
    response = client.post(url("advisor", world), {"sizes": "five"}, follow=True, **EN)
    assert "whole numbers" in response.content.decode()
    page = client.get(url("advisor", world), **EN).content.decode()
    assert "1, 4, 8" in page


def test_index_lists_campaigns_of_my_province(world):
    CampaignFactory.create(province=world.other_province, name="Elsewhere")
    response = get(world, "ward_a", reverse("reports:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.campaign.name in html and "Elsewhere" not in html


# --- Refusals ------------------------------------------------------------------------

VIEWS = [
    ("daily", {"fmt": "xlsx"}),
    ("daily", {"fmt": "pdf"}),
    ("turnaround", {}),
    ("advisor", {}),
    ("positives", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), VIEWS)
@pytest.mark.parametrize(
    "user", ["sampler_a", "courier_a", "labtech_a", "labsupervisor_a", "nobody"]
)
def test_wrong_role_is_refused(world, name, kwargs, user):
    assert get(world, user, url(name, world, **kwargs)).status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), VIEWS)
def test_wrong_place_is_not_found(world, name, kwargs):
    # Another ward of the same campaign, and the province above one's ward.
    for place in (world.ward_b.code, world.province.code, world.ward_c.code, "nope"):
        response = get(world, "ward_a", url(name, world, **kwargs), place=place)
        assert response.status_code == 404, (place, response.status_code)
    # A campaign of another province, even for a province official.
    elsewhere = CampaignFactory.create(province=world.other_province)
    path = reverse(f"reports:{name}", kwargs={"campaign_id": elsewhere.public_id, **kwargs})
    assert get(world, "province", path).status_code == 404


def test_positives_need_outcome_rights(world):
    # Data entry may export people lists, but never sees results.
    assert get(world, "dataentry_a", url("positives", world)).status_code == 403
    assert not AuditEvent.objects.filter(action="reports.positives_exported").exists()


def test_index_refuses_without_dashboard(world):
    assert get(world, "labtech_a", reverse("reports:index")).status_code == 403


def test_advisor_sizes_refused_to_a_ward_official(world):
    # A ward official has campaign rights in their ward only, not over the campaign.
    response = world.client_for("ward_a").post(url("advisor", world), {"sizes": "3"}, **EN)
    assert response.status_code == 403
    assert not PoolSizePolicy.objects.exists()
    page = get(world, "ward_a", url("advisor", world)).content.decode()
    assert 'data-testid="advisor-sizes-form"' not in page


def test_daily_pdf_of_many_wards_runs_over_pages(world, django_assert_max_num_queries):
    from swabline.campaigns.models import CampaignWard
    from tests.factories import make_place

    for index in range(60):
        ward = make_place(f"Xã Số {index:02d}", parent=world.province)
        CampaignWard.objects.create(campaign=world.campaign, ward=ward, target_population=100)
    client = world.client_for("province")
    with django_assert_max_num_queries(13):  # +1: the 2FA device (django-otp)
        response = client.get(url("daily", world, fmt="pdf"), **EN)
    document = pypdfium2.PdfDocument(response.content)
    assert len(document) >= 2
    last = document[len(document) - 1].get_textpage().get_text_range()
    assert "Total" in last and "6.000" in last  # 60 × 100 (dots group thousands)
    text = pdf_text(response.content)
    assert all(f"Xã Số {i:02d}" in text for i in range(60))
    assert text.count("Ward") == len(document)  # column titles repeated on each page
    rows = table(sheet_rows(client.get(url("daily", world, fmt="xlsx"), **EN).content))
    assert len(rows) == 60 + 2 + 1 and rows["Total"]["Target population"] == 6000


def test_advisor_page_query_count(world, django_assert_max_num_queries):
    campaign_day(world)
    client = world.client_for("province")
    client.get(url("advisor", world), **EN)
    with django_assert_max_num_queries(14):
        assert client.get(url("advisor", world), **EN).status_code == 200


def test_drill_down_and_back_up(world):
    campaign_day(world)
    page = get(world, "province", url("turnaround", world)).content.decode()
    assert f'href="?place={world.ward_a.code}"' in page  # down to each ward
    down = get(world, "province", url("turnaround", world), place=world.ward_a.code)
    html = down.content.decode()
    assert f'data-place="{world.ward_a.code}"' in html
    assert f'href="?place={world.province.code}" data-testid="report-up"' in html
    assert f'data-testid="turnaround-ward" data-place="{world.ward_b.code}"' not in html
    # A ward official has nowhere to go up to, nor other wards to go down to.
    own = get(world, "ward_a", url("advisor", world)).content.decode()
    assert 'data-testid="report-up"' not in own and 'data-testid="report-wards"' not in own


@pytest.mark.parametrize(("name", "kwargs"), VIEWS)
def test_a_ward_outside_the_campaign_gets_empty_documents(world, name, kwargs):
    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from tests.factories import UserFactory, make_place

    quiet = make_place("Xã Yên Tĩnh", parent=world.province)
    user = UserFactory.create(username="quiet")
    accounts.assign(user=user, role=Role.OFFICIAL, by=None, place=quiet)
    campaign_day(world)
    world.users["quiet"] = user
    client = world.client_for("quiet")
    response = client.get(url(name, world, **kwargs), **EN)
    assert response.status_code == 200
    if kwargs.get("fmt") == "xlsx":
        assert list(table(sheet_rows(response.content))) == ["Total"]
    if name == "positives":
        assert sheet_rows(response.content)[1:] == []
