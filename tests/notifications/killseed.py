"""Seed a file-backed database for the kill test: `python -m tests.notifications.killseed N`.

Run in a subprocess with DATABASE_URL pointing at a migrated database: builds the
test world and releases N people (pools of 10) through the real services, which
writes their SMS outbox rows.
"""

from __future__ import annotations

import os
import sys


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    import django

    django.setup()
    from tests.conftest import build_world
    from tests.results.helpers import release, resulted
    from tests.sampling.factories import people

    world = build_world()
    results = [resulted(world, "negative", people(world, 10)) for _ in range(count // 10)]
    release(world, *results)


if __name__ == "__main__":
    main(int(sys.argv[1]))
