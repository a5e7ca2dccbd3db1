"""Seed a database for the station fault tests, in a subprocess:
`python -m tests.faults.seed LABELS PEOPLE` prints JSON.

Builds the test world (tests/conftest.py) through the real services and answers
what the clients need: sampler A's bearer token, site A's public id, LABELS label
codes issued to site A, and the QR payloads of PEOPLE people registered in ward A.
"""

from __future__ import annotations

import json
import os
import sys


def main(label_count: int, people_count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    import django

    django.setup()
    from swabline.accounts.services import issue_token
    from tests.conftest import build_world
    from tests.sampling.factories import labels, people, scan_of

    world = build_world()
    _, token = issue_token(user=world.users["sampler_a"], name="faults station")
    codes = labels(world, label_count) if label_count else []
    scans = [scan_of(p) for p in people(world, people_count)]
    json.dump(
        {"token": token, "site": str(world.site_a.public_id), "labels": codes, "scans": scans},
        sys.stdout,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
