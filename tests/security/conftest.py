"""One world of A and B per test module: building it (every kind of object at B, via
the services) costs more than most tests here, and the matrix asks it dozens of
times. It is built once inside an outer transaction that is rolled back at the end of
the module; each test still runs in its own savepoint, so what one test writes the
next does not see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from tests.conftest import build_world
from tests.security.places import Matrix, build


@pytest.fixture(scope="module")
def _module_matrix(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[tuple[Matrix, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("matrix")
    dirs = {"PEOPLE_IMPORT_DIR": str(folder / "imports"), "FHIR_EXPORT_DIR": str(folder / "fhir")}
    with django_db_blocker.unblock(), override_settings(**dirs), transaction.atomic():
        yield build(build_world(), folder), dirs
        transaction.set_rollback(True)


@pytest.fixture
def matrix(_module_matrix: tuple[Matrix, dict[str, str]], db: None, settings: Any) -> Matrix:
    built, dirs = _module_matrix
    for name, value in dirs.items():
        setattr(settings, name, value)
    return built
