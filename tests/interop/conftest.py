"""Exports hold personal data: tests write theirs under a temporary folder."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _exports_in_tmp(settings: Any, tmp_path_factory: Any) -> None:
    settings.FHIR_EXPORT_DIR = str(tmp_path_factory.mktemp("fhir-exports"))
