import sys
import time

from django.core.management.base import BaseCommand, CommandError

from swabline.demo.simulate import SimulationError, simulate_campaign


class Progress:
    """One line on stderr, rewritten in place: the stage, done/total, percent."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.stage = ""
        self.shown = 0.0

    def __call__(self, stage, done, total):
        now = time.monotonic()
        if stage == self.stage and done < total and now - self.shown < 0.2:
            return
        if stage != self.stage and self.stage:
            self.stream.write("\n")
        self.stage, self.shown = stage, now
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{stage:<16} [{bar}] {done}/{total} {100 * done // max(total, 1)}%")
        self.stream.flush()

    def end(self):
        if self.stage:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Simulate a campaign day through the real services: registrations, station "
        "scans, shipments, receipt, results, releases, recalls, a rejection and a correction."
    )

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, required=True)
        parser.add_argument("--prevalence", type=float, required=True)
        parser.add_argument("--pool-size", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--province", default="80", help="province code (default 80)")

    def handle(self, *args, people, prevalence, pool_size, seed, province, **options):
        progress = Progress(self.stderr._out)
        started = time.monotonic()
        try:
            sim = simulate_campaign(
                people=people,
                prevalence=prevalence,
                pool_size=pool_size,
                seed=seed,
                province_code=province,
                progress=progress,
            )
        except SimulationError as exc:
            progress.end()
            raise CommandError(str(exc)) from exc
        progress.end()
        self.stdout.write(
            f"Campaign {sim.campaign.pk} ({sim.campaign.name}): {sim.people} people, "
            f"{sim.tubes} tubes, {sim.positive_pools} positive pools, {sim.recalled} recalled, "
            f"{sim.positive_people} positive people, {sim.rejected} rejected, "
            f"{sim.corrected} corrected, in {time.monotonic() - started:.1f} s."
        )
