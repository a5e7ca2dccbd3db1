from django.core.management.base import BaseCommand

from swabline.demo.seed import DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo campaign, a user per role and 1,000 synthetic people (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=1000)

    def handle(self, *args, people: int, **options):
        world = seed_demo(people=people)
        self.stdout.write(
            f"Demo: {world.campaign.name}, {len(world.wards)} wards, {len(world.sites)} sites, "
            f"lab {world.lab.code}, {len(DEMO_USERS)} users, {world.people_created} new people."
        )
