"""`manage.py notifications_worker`: deliver the notification outbox until stopped.

SIGTERM or SIGINT stops it gracefully: the batch in hand is finished and recorded
first. Killed harder, nothing is lost: its claimed rows are taken again by the next
worker when their lease runs out (NOTIFY_LEASE_SECONDS). Several workers may run at
once on PostgreSQL.
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from swabline.notifications.worker import Worker


class Command(BaseCommand):
    help = "Deliver queued notifications (SMS, e-mail, partner webhooks) until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--until-idle", action="store_true", help="Stop when nothing is due.")
        parser.add_argument("--max-seconds", type=float, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker()

        def stop(signum: int, frame: object) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            handled = worker.run(
                until_idle=options["until_idle"], max_seconds=options["max_seconds"]
            )
        finally:
            worker.close()
        if options["verbosity"] > 1:
            self.stdout.write(f"handled {handled} notification(s)")
