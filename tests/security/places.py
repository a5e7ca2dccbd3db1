"""Two places for the access matrix: A (the shared world's province, ward A, site A,
lab A) and B (the other province: ward C, a campaign and a site there, lab B), with
every kind of object built at B through the real services, and personas at both.

Personas at A are the shared world's; personas at B are made here and named after
their place (`official_c`, `sampler_c`, ...). `B.values` are the strings that identify
B's objects: a page shown to someone at A must contain none of them."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.http import HttpResponse
from django.test import Client

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.accounts.models import User
from swabline.backfill.models import PaperBacklog
from swabline.campaigns.models import Campaign, Site
from swabline.interop.models import BulkExport
from swabline.interop.services import start_export
from swabline.interop.tasks import run_fhir_export
from swabline.labs import uploads
from swabline.labs.models import ResultUpload, TubeResult
from swabline.lookup import session
from swabline.people import data_requests, importing
from swabline.people.enums import DataRequestKind
from swabline.people.models import Consent, DataRequest, PeopleImport, Person
from swabline.results.models import Outcome
from swabline.sampling.models import Tube
from swabline.shipping.models import Shipment
from tests.conftest import World
from tests.factories import CampaignFactory, PersonFactory, SiteFactory, UserFactory
from tests.labs.helpers import received_tubes
from tests.results.helpers import released, tube_with
from tests.shipping.helpers import in_transit


@dataclass
class B:
    campaign: Campaign
    site: Site
    person: Person  # a released negative result at B
    outcome: Outcome
    tube: Tube  # the person's tube, resulted at lab B
    received_tube: Tube  # received at lab B through a shipment
    shipment: Shipment  # in transit from site B to lab B
    shipped_tube: Tube
    upload: ResultUpload
    people_import: PeopleImport
    export: BulkExport
    access_request: DataRequest
    erasure_request: DataRequest
    values: dict[str, str]


@dataclass
class Matrix:
    world: World
    b: B
    person_a: Person  # a citizen at A with a released result and a look-up grant

    def client(self, persona: str) -> Client:
        """A client for a persona: `anonymous`, `citizen` (look-up grant for person A
        only) or a user of the world."""
        client = Client()
        if persona == "citizen":
            granted = HttpResponse()
            session.grant(granted, [self.person_a.pk])
            client.cookies.update(granted.cookies)
        elif persona != "anonymous":
            client.force_login(self.world.users[persona])
        return client

    def token(self, persona: str) -> dict[str, Any]:
        if persona in ("anonymous", "citizen"):
            return {}
        _, raw = accounts.issue_token(user=self.world.users[persona], name="matrix")
        return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# Every persona at A (and those with no place), asked for B's objects.
PERSONAS_A = [
    "anonymous",
    "citizen",
    "nobody",
    "province",
    "ward_a",
    "ward_b",
    "sampler_a",
    "dataentry_a",
    "courier_a",
    "labtech_a",
    "labsupervisor_a",
    "partner_a",
]
# The same roles at B: each of B's objects must open for one of them.
PERSONAS_B = [
    "official_c",
    "sampler_c",
    "dataentry_c",
    "courier_c",
    "labtech_b",
    "labsupervisor_b",
    "partner_b",
]


def _user(world: World, name: str, role: Role, **scope: Any) -> User:
    user = UserFactory.create(username=name)
    accounts.assign(user=user, role=role, by=None, **scope)
    world.users[name] = user
    return user


def build(world: World, tmp: Path) -> Matrix:
    """Personas and objects at A and B (B: the world's other province)."""
    campaign = CampaignFactory.create(province=world.other_province, name="Đợt Bên Kia")
    site = SiteFactory.create(campaign=campaign, ward=world.ward_c, name="Điểm Xa Lạ")
    _user(world, "partner_a", Role.PARTNER, place=world.province)
    _user(world, "official_c", Role.OFFICIAL, place=world.ward_c)
    _user(world, "sampler_c", Role.SAMPLER, site=site)
    _user(world, "dataentry_c", Role.DATA_ENTRY, place=world.ward_c)
    _user(world, "courier_c", Role.COURIER, site=site)
    _user(world, "labsupervisor_b", Role.LAB_SUPERVISOR, lab=world.lab_b)
    partner_b = _user(world, "partner_b", Role.PARTNER, place=world.other_province)
    # The shared helpers act as "<role>_a" at world.site_a / lab_a: point them at B.
    at_b = dataclasses.replace(
        world,
        campaign=campaign,
        site_a=site,
        lab_a=world.lab_b,
        ward_a=world.ward_c,
        users=world.users
        | {
            "sampler_a": world.users["sampler_c"],
            "courier_a": world.users["courier_c"],
            "labtech_a": world.users["labtech_b"],
            "labsupervisor_a": world.users["labsupervisor_b"],
        },
    )
    person = PersonFactory.create(
        ward=world.ward_c,
        full_name="Quách Thị Bê Lọt",
        phone="+84933871265",
        national_id="079199012345",
        email="quach.be@example.org",
    )
    result: TubeResult = released(at_b, "negative", [person], kind="individual")
    Consent.objects.create(person=person, partner=partner_b)
    [received_tube] = received_tubes(at_b, 1, lab=world.lab_b)
    shipped_tube = tube_with(at_b, 2)
    shipment = in_transit(at_b, [shipped_tube])
    PaperBacklog.objects.create(
        campaign=campaign, site=site, declared_by=world.users["official_c"], tubes=3,
        note="Giấy Bên Kia",
    )  # fmt: skip
    csv = f"Well,Sample Name,Result\r\nA1,{shipped_tube.code},negative\r\n".encode()
    upload = uploads.create_upload(
        by=world.users["labtech_b"], lab=world.lab_b, file=csv, file_name="run-b.csv"
    )
    listing = tmp / "people-b.csv"
    listing.write_text("Họ và tên,Ngày sinh,Giới tính\r\nVương Văn Danh Sách,01/02/1990,Nam\r\n")
    people_import = importing.create_import(
        by=world.users["dataentry_c"], place=world.ward_c, uploaded_file_or_path=listing,
        filename="people-b.csv",
    )  # fmt: skip
    export = start_export(
        by=world.users["official_c"], since=None, until=None, request_url="/x", base_url="/x"
    )
    run_fhir_export.call(str(export.public_id))
    export.refresh_from_db()
    requests = {
        kind: data_requests.record_request(
            by=world.users["official_c"], person=person, kind=kind, reason="matrix",
            client_id=uuid.uuid4(),
        )
        for kind in (DataRequestKind.ACCESS, DataRequestKind.ERASURE)
    }  # fmt: skip
    person_a = PersonFactory.create(ward=world.ward_a, full_name="Lâm Văn A Được")
    released(world, "negative", [person_a], kind="individual")
    b = B(
        campaign=campaign,
        site=site,
        person=person,
        outcome=Outcome.objects.get(person=person, current=True),
        tube=result.tube,
        received_tube=received_tube,
        shipment=shipment,
        shipped_tube=shipped_tube,
        upload=upload,
        people_import=people_import,
        export=export,
        access_request=requests[DataRequestKind.ACCESS],
        erasure_request=requests[DataRequestKind.ERASURE],
        values={
            "person name": person.full_name,
            "person phone": "933871265",
            "person phone (spaced)": "933 871 265",
            "person CCCD": "079199012345",
            "person e-mail": person.email,
            "person public id": person.public_id,
            "person code": person.code,
            "person QR token": person.qr_token,
            "tube code": result.tube.code,
            "shipped tube code": shipped_tube.code,
            "received tube code": received_tube.code,
            "shipment id": str(shipment.public_id),
            "site id": str(site.public_id),
            "site name": site.name,
            "campaign id": str(campaign.public_id),
            "campaign name": campaign.name,
            "upload id": str(upload.public_id),
            "upload file": upload.file_name,
            "import id": str(people_import.public_id),
            "import file": people_import.original_name,
            "export id": str(export.public_id),
            "access request id": str(requests[DataRequestKind.ACCESS].public_id),
            "erasure request id": str(requests[DataRequestKind.ERASURE].public_id),
            "backlog note": "Giấy Bên Kia",
        },
    )
    return Matrix(world, b, person_a)


def fingerprint(b: B) -> tuple[Any, ...]:
    """What a refused request must leave as it was at B."""
    person = Person.objects.get(pk=b.person.pk)
    return (
        Shipment.objects.filter(campaign=b.campaign).values_list("public_id", "status").order_by("id")[::1],
        Tube.objects.filter(campaign=b.campaign).values_list("code", "status").order_by("id")[::1],
        (person.full_name, person.phone, person.national_id, person.ward_id, person.merged_into_id),
        Person.objects.filter(ward=b.person.ward).count(),
        TubeResult.objects.filter(lab=b.upload.lab).values_list("tube_id", "value").order_by("id")[::1],
        Outcome.objects.filter(person__ward=b.person.ward).values_list("id", "state", "current").order_by("id")[::1],
        ResultUpload.objects.filter(pk=b.upload.pk).values_list("status", "rows")[::1],
        PeopleImport.objects.filter(pk=b.people_import.pk).values_list("status", "rows_total")[::1],
        BulkExport.objects.filter(pk=b.export.pk).values_list("status")[::1],
        Consent.objects.filter(person=b.person).values_list("partner_id", "revoked_at")[::1],
        Site.objects.filter(pk=b.site.pk).values_list("name", "ward_id", "campaign_id")[::1],
        Campaign.objects.filter(pk=b.campaign.pk).values_list("name", "status")[::1],
        DataRequest.objects.filter(person=b.person).values_list("kind", "status").order_by("id")[::1],
    )  # fmt: skip


def fresh_uuid() -> str:
    return str(uuid.uuid4())
