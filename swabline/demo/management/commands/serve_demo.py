"""Serve the app and run the background workers beside it; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from swabline.demo.seed import DEMO_USERS


class Command(BaseCommand):
    help = "Serve Swabline on 127.0.0.1:$PORT with granian; run the task and notification workers."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: int, host: str, **options):
        python = sys.executable
        web = [
            python, "-m", "granian", "--interface", "wsgi", "--host", host, "--port", str(port),
            "--workers", "1", "--blocking-threads", "8", "--no-ws", "swabline.wsgi:application",
        ]  # fmt: skip
        worker = [python, "manage.py", "db_worker", "--no-reload", "--interval", "1"]
        # Delivers released results' messages (to the console unless NOTIFY_* say otherwise).
        notifier = [python, "manage.py", "notifications_worker"]
        # Links in messages point at this server unless PUBLIC_BASE_URL says otherwise.
        env = {**os.environ}
        env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
        children = [
            subprocess.Popen(web, env=env),
            subprocess.Popen(worker, env=env),
            subprocess.Popen(notifier, env=env),
        ]
        self._print_banner(host, port)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("Stopped.")

    def _lookup_example(self, host: str, port: int) -> list[str]:
        """A demo citizen with a released negative result, to try the look-up with."""
        from swabline.results.models import Outcome

        outcome = (
            Outcome.objects.filter(current=True, state="negative", person__birth_date__isnull=False)
            .select_related("person")
            .order_by("id")
            .first()
        )
        if outcome is None:
            return []
        person = outcome.person
        return [
            f"Result look-up: http://{host}:{port}/lookup/  "
            f"(try code {person.display_code}, born {person.birth_date:%d/%m/%Y})",
            f"Certificate check: http://{host}:{port}/verify",
        ]

    def _two_factor_note(self) -> list[str]:
        if not settings.REQUIRE_TWO_FACTOR:
            return ["Second factor: off (REQUIRE_TWO_FACTOR=0); never in production."]
        roles = ", ".join(settings.TWO_FACTOR_ROLES)
        return [
            f"Second factor ({roles}): set up an authenticator app (TOTP) at the first",
            "  login; REQUIRE_TWO_FACTOR=0 make run skips it for a quick look.",
        ]

    def _print_banner(self, host: str, port: int) -> None:
        width = max(len(u) for u, _, _ in DEMO_USERS)
        lines = [
            "",
            f"Swabline is running: http://{host}:{port}/",
            f"Password for every demo user: {settings.DEMO_PASSWORD}",
            "Logins:",
            *[f"  {u.ljust(width)}  {role.label}" for u, role, _ in DEMO_USERS],
            *self._two_factor_note(),
            *self._lookup_example(host, port),
            "API docs: " + f"http://{host}:{port}/api/v1/docs",
            "Press Ctrl-C to stop the server and the workers.",
            "",
        ]
        self.stdout.write("\n".join(lines))
