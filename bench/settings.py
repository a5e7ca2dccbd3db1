"""Settings for the benchmark server: the project's own, plus the plain baseline app.

Everything (middleware, database options, logging) comes from swabline.settings, so a
baseline endpoint pays exactly what a real endpoint pays except the application work.
"""

from __future__ import annotations

from swabline import settings as _base
from swabline.settings import *  # noqa: F403

INSTALLED_APPS = [*_base.INSTALLED_APPS, "bench.baseline"]
ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
DEBUG = False
# The load generator plays a whole province of citizens from 127.0.0.1: the look-up's
# per-address limit would stop it after a few wrong answers. Every try is still
# counted (the same upsert); only the threshold is lifted.
LOOKUP_CLIENT_MAX_FAILURES = 10**9
