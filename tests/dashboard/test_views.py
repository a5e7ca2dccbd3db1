"""The progress page, its fragment and API: every number equals a recount from the
base tables, scoped to the viewer's places, in a fixed number of queries."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from swabline.audit.models import AuditEvent
from swabline.campaigns.models import CampaignWard
from swabline.dashboard.models import AlarmThresholds
from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.results.models import Outcome
from swabline.sampling.models import Sample, Tube
from tests.backfill.helpers import names_missing
from tests.dashboard.scenario import age, run_day
from tests.factories import SiteFactory
from tests.results.helpers import tube_with

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def page_url(world, **query):
    url = reverse("dashboard:progress", kwargs={"public_id": world.campaign.public_id})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def figures(html: str) -> dict[str, int | float]:
    """The totals block's figures, as the page shows them."""
    totals = html.split('data-testid="totals"', 1)[1].split("</dl>", 1)[0]
    out: dict[str, int | float] = {}
    for name, text in re.findall(r'data-figure="([a-z_]+)">([^<]*)<', totals):
        text = text.replace(",", "").replace("%", "").strip()
        out[name] = float(text) if "." in text else int(text)
    statuses = html.split('data-testid="tube-statuses"', 1)[1].split("</table>", 1)[0]
    for name, text in re.findall(r'data-figure="(tubes_[a-z]+)">([^<]*)<', statuses):
        out[name] = int(text.replace(",", ""))
    return out


def recount(world, wards) -> dict[str, int | float]:
    """The same figures straight from the base tables, for sites in `wards`."""
    c = world.campaign
    tubes = Tube.objects.filter(campaign=c, site__ward__in=wards)
    samples = Sample.objects.filter(campaign=c, tube__site__ward__in=wards, active=True)
    current = Outcome.objects.filter(campaign=c, current=True, tube__site__ward__in=wards)
    target = sum(
        CampaignWard.objects.filter(campaign=c, ward__in=wards).values_list(
            "target_population", flat=True
        )
    )
    sampled = samples.filter(kind="normal").values("person").distinct().count()
    out: dict[str, int | float] = {
        "target_population": target,
        "registered": Person.objects.filter(ward__in=wards, merged_into__isnull=True).count(),
        "people_sampled": sampled,
        "coverage_percent": round(100 * sampled / target, 1),
        "tubes_sampled": tubes.exclude(status="void").count(),
        "positive_pools": TubeResult.objects.filter(
            tube__in=tubes, current=True, state="released", value="positive", tube__kind="pool"
        ).count(),
        "positive_people": current.filter(state="positive").count(),
        "recall_pending": current.filter(state="recall").count(),
        "recollect_pending": current.filter(state="recollect").count(),
    }
    for status in (
        "open",
        "closed",
        "shipped",
        "received",
        "resulted",
        "released",
        "void",
        "rejected",
    ):
        out[f"tubes_{status}"] = tubes.filter(status=status).count()
    return out


def test_every_number_on_the_province_page_equals_a_recount(world):
    run_day(world)
    response = world.client_for("province").get(page_url(world), **EN)
    assert response.status_code == 200
    shown = figures(response.content.decode())
    assert shown == recount(world, [world.ward_a, world.ward_b])
    assert shown["recall_pending"] == 6 and shown["tubes_rejected"] == 1


def test_a_ward_official_sees_only_their_ward(world):
    run_day(world)
    client = world.client_for("ward_a")
    response = client.get(page_url(world), **EN)
    html = response.content.decode()
    assert figures(html) == recount(world, [world.ward_a])
    assert world.site_b.name not in html
    # Other places, and the province above them, look like nothing at all.
    assert client.get(page_url(world, place=world.ward_b.code)).status_code == 404
    assert client.get(page_url(world, place=world.province.code)).status_code == 404
    assert client.get(page_url(world, place=world.ward_c.code)).status_code == 404
    site_b = page_url(world, place=world.ward_a.code, site=world.site_b.public_id)
    assert client.get(site_b).status_code == 404


def test_drill_down_to_a_ward_and_a_site(world):
    run_day(world)
    client = world.client_for("province")
    ward = client.get(page_url(world, place=world.ward_b.code), **EN).content.decode()
    assert figures(ward) == recount(world, [world.ward_b])
    assert str(world.site_b.public_id) in ward
    site = client.get(
        page_url(world, place=world.ward_b.code, site=world.site_b.public_id), **EN
    ).content.decode()
    assert figures(site)["tubes_open"] == 1
    assert "target_population" not in figures(site)


@pytest.mark.parametrize(
    "user", ["sampler_a", "labtech_a", "labsupervisor_a", "courier_a", "dataentry_a", "nobody"]
)
def test_other_roles_are_refused(world, user):
    client = world.client_for(user)
    assert client.get(reverse("dashboard:home")).status_code == 403
    assert client.get(page_url(world)).status_code == 403
    live = reverse("dashboard:live", kwargs={"public_id": world.campaign.public_id})
    assert client.get(live).status_code == 403
    alarm = reverse(
        "dashboard:alarm", kwargs={"public_id": world.campaign.public_id, "kind": "open"}
    )
    assert client.get(alarm).status_code == 403


def test_anonymous_is_sent_to_log_in(client, world):
    response = client.get(page_url(world))
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_unknown_campaign_is_404(world):
    url = reverse("dashboard:progress", kwargs={"public_id": uuid.uuid4()})
    assert world.client_for("province").get(url).status_code == 404


def _grow(world, sites: int) -> None:
    for i in range(sites):
        site = SiteFactory.create(campaign=world.campaign, ward=world.ward_b, name=f"Extra {i}")
        tube_with(world, 2, site=site, close=i % 2 == 0)


def test_the_page_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    run_day(world)
    client = world.client_for("province")
    client.get(page_url(world))  # warm the session and the user's grants
    with django_assert_max_num_queries(22):
        client.get(page_url(world))
    _grow(world, 6)
    age(list(Tube.objects.filter(campaign=world.campaign, status="open")), hours=5)
    with django_assert_max_num_queries(22):
        assert client.get(page_url(world)).status_code == 200
    live = reverse("dashboard:live", kwargs={"public_id": world.campaign.public_id})
    with django_assert_max_num_queries(22):
        assert client.get(live).status_code == 200


def test_backlog_alarms_count_and_list_the_exact_tubes(world):
    day = run_day(world)
    client = world.client_for("province")
    html = client.get(page_url(world), **EN).content.decode()
    assert 'data-alarm="closed" data-count="0"' in html  # nothing is old yet
    waiting = [day.tubes[k] for k in ("open", "closed", "shipped", "received", "resulted")]
    age(waiting, hours=13)
    html = client.get(page_url(world), **EN).content.decode()
    for kind in ("open", "closed", "shipped", "received", "resulted"):
        assert f'data-alarm="{kind}" data-count="1"' in html, kind
    # The ward with the backlog shows it on its row; the other does not.
    assert f'data-code="{world.ward_b.code}" data-alarms="5"' in html
    assert f'data-code="{world.ward_a.code}" data-alarms="0"' in html
    for kind in ("open", "closed", "shipped", "received", "resulted"):
        url = reverse(
            "dashboard:alarm", kwargs={"public_id": world.campaign.public_id, "kind": kind}
        )
        listed = client.get(url + f"?place={world.ward_b.code}", **EN).content.decode()
        assert re.findall(r'data-tube="([0-9A-Z]+)"', listed) == [day.tubes[kind].code]
    # A ward official of the other ward sees none of it, and may not list it.
    other = world.client_for("ward_a").get(page_url(world), **EN).content.decode()
    assert 'data-alarm="open" data-count="0"' in other
    url = reverse("dashboard:alarm", kwargs={"public_id": world.campaign.public_id, "kind": "open"})
    assert world.client_for("ward_a").get(url + f"?place={world.ward_b.code}").status_code == 404


def test_thresholds_are_per_campaign_and_move_the_alarms(world):
    day = run_day(world)
    age([day.tubes["closed"]], hours=1)
    client = world.client_for("province")
    html = client.get(page_url(world), **EN).content.decode()
    assert 'data-alarm="closed" data-count="0"' in html  # default: three hours
    url = reverse("dashboard:thresholds", kwargs={"public_id": world.campaign.public_id})
    fields = {
        "open_minutes": 120, "closed_minutes": 30, "shipped_minutes": 240,
        "received_minutes": 720, "resulted_minutes": 240, "recall_minutes": 1440,
    }  # fmt: skip
    assert client.post(url, fields).status_code == 302
    assert AlarmThresholds.objects.get(campaign=world.campaign).closed_minutes == 30
    assert AuditEvent.objects.filter(action="dashboard.thresholds_set").count() == 1
    html = client.get(page_url(world), **EN).content.decode()
    assert 'data-alarm="closed" data-count="1"' in html
    bad = client.post(url, fields | {"closed_minutes": 0}, **EN)
    assert bad.status_code == 200 and AlarmThresholds.objects.get().closed_minutes == 30
    # Ward officials see the campaign but do not manage it.
    assert world.client_for("ward_a").get(url).status_code == 403


def test_the_recall_alarm_lists_people_not_resampled(world):
    day = run_day(world)
    Outcome.objects.filter(current=True, state="recall").update(
        decided_at=day.tubes["pos"].opened_at.replace(year=2020)
    )
    client = world.client_for("province")
    html = client.get(page_url(world), **EN).content.decode()
    # Six on the recall list; one of them already swabbed again (waiting for a result).
    assert 'data-alarm="recall" data-count="5"' in html
    url = reverse(
        "dashboard:alarm", kwargs={"public_id": world.campaign.public_id, "kind": "recall"}
    )
    listed = client.get(url, **EN).content.decode()
    assert len(re.findall(r'data-testid="alarm-row"', listed)) == 5


def test_the_api_gives_the_same_numbers_scoped(world):
    from swabline.accounts import services as accounts

    run_day(world)
    _, raw = accounts.issue_token(user=world.users["ward_a"], name="dashboard")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    response = world.client_for("nobody").get(
        f"/api/v1/dashboard/progress?campaign={world.campaign.public_id}", **auth
    )
    assert response.status_code == 200, response.content
    body = response.json()
    want = recount(world, [world.ward_a])
    totals = body["totals"]
    assert {
        k: totals[k] for k in ("people_sampled", "recall_pending", "positive_pools", "registered")
    } == {k: want[k] for k in ("people_sampled", "recall_pending", "positive_pools", "registered")}
    assert totals["tubes"]["rejected"] == want["tubes_rejected"]
    assert body["place"] == world.ward_a.code
    assert [r["code"] for r in body["rows"]] == [str(world.site_a.public_id)]
    other = (
        f"/api/v1/dashboard/progress?campaign={world.campaign.public_id}&place={world.ward_b.code}"
    )
    assert world.client_for("nobody").get(other, **auth).status_code == 404
    _, lab = accounts.issue_token(user=world.users["labtech_a"], name="lab")
    refused = world.client_for("nobody").get(
        f"/api/v1/dashboard/progress?campaign={world.campaign.public_id}",
        HTTP_AUTHORIZATION=f"Bearer {lab}",
    )
    assert refused.status_code == 403


def test_names_missing_tubes_are_the_first_alarm(world):
    run_day(world)
    names_missing(world)  # an issued label received at the lab with no names
    html = world.client_for("province").get(page_url(world), **EN).content.decode()
    first = re.search(r'data-alarm="([a-z_]+)" data-count="(\d+)"', html)
    assert first is not None and first.groups() == ("names_missing", "1")
    link = reverse("backfill:names-missing")
    assert f"{link}?campaign={world.campaign.public_id}&amp;place={world.province.code}" in html


def test_figures_may_be_cached_for_a_few_seconds_but_scope_still_holds(world, settings):
    from django.core.cache import cache

    cache.clear()
    settings.DASHBOARD_CACHE_SECONDS = 60
    run_day(world)
    client = world.client_for("province")
    before = figures(client.get(page_url(world), **EN).content.decode())
    tube_with(world, 2, site=world.site_b, close=False)
    cached = figures(client.get(page_url(world), **EN).content.decode())
    assert cached == before  # served from the cache
    # Another official of the same place shares it; another place is never served it.
    assert world.client_for("admin").get(page_url(world), **EN).status_code == 200
    ward = world.client_for("ward_a")
    assert figures(ward.get(page_url(world), **EN).content.decode()) == recount(
        world, [world.ward_a]
    )
    assert ward.get(page_url(world, place=world.province.code)).status_code == 404
    settings.DASHBOARD_CACHE_SECONDS = 0
    fresh = figures(client.get(page_url(world), **EN).content.decode())
    assert fresh["tubes_open"] == before["tubes_open"] + 1
    cache.clear()
