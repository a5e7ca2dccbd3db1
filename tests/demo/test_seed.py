import pytest

from swabline.accounts.enums import Role
from swabline.accounts.models import Assignment, User
from swabline.accounts.permissions import roles_of
from swabline.campaigns.models import Campaign, Site
from swabline.core.text import fold
from swabline.demo.seed import DEMO_USERS, PlacesMissing, seed_demo
from swabline.labs.models import Lab
from swabline.people.models import Person
from tests.demo.places import demo_places

pytestmark = pytest.mark.django_db


def test_seed_needs_places():
    with pytest.raises(PlacesMissing):
        seed_demo(people=5)


def test_seed_creates_a_user_per_role_and_is_idempotent():
    demo_places()
    first = seed_demo(password="first-password-1", people=200)
    second = seed_demo(password="second-password-2", people=200)

    assert first.people_created == 200
    assert second.people_created == 0
    assert Person.objects.count() == 200
    assert Campaign.objects.count() == 1
    assert Site.objects.count() == 2
    assert Lab.objects.count() == 1
    assert Assignment.objects.count() == len(DEMO_USERS)
    usernames = sorted(User.objects.values_list("username", flat=True))
    assert usernames == sorted(
        ["admin", "province", "ward", "sampler", "dataentry", "courier", "labtech", "labsupervisor"]
    )
    # The password follows DEMO_PASSWORD on every run.
    assert User.objects.get(username="ward").check_password("second-password-2")
    assert roles_of(User.objects.get(username="labsupervisor")) == {Role.LAB_SUPERVISOR}


def test_synthetic_people_are_plausible():
    demo_places()
    seed_demo(people=300)
    people = list(Person.objects.all())
    assert all(p.full_name == p.full_name.strip() and len(p.full_name.split()) == 3 for p in people)
    assert all(p.name_folded == fold(p.full_name) for p in people)
    assert all(p.phone == "" or (p.phone.startswith("+84") and len(p.phone) == 12) for p in people)
    assert all(
        p.national_id is None or (len(p.national_id) == 12 and p.national_id.startswith("072"))
        for p in people
    )
    assert all(p.province_code == "80" for p in people)
    assert len({p.household_key for p in people}) == 75
