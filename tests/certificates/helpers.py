"""Outcomes from released results, ready to certify."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pypdfium2
import zxingcpp
from PIL import Image

from swabline.people.models import Person
from swabline.results.models import Outcome
from tests.factories import PersonFactory
from tests.results.helpers import released


def person(world: Any, **fields: Any) -> Person:
    fields.setdefault("ward", world.ward_a)
    return PersonFactory.create(**fields)


def outcome_of(world: Any, value: str = "negative", **fields: Any) -> Outcome:
    """A current outcome of a new person, decided by a released individual result."""
    member = person(world, **fields)
    released(world, value, [member], kind="individual")
    return Outcome.objects.get(person=member, current=True)


def year_only(world: Any, value: str = "negative", **fields: Any) -> Outcome:
    return outcome_of(world, value, birth_date=None, birth_year=1962, **fields)


def qr_texts_of_pdf(pdf: bytes, scale: float = 3) -> list[str]:
    """Render each page and read every QR code on it (as a phone would)."""
    document = pypdfium2.PdfDocument(pdf)
    texts: list[str] = []
    for page in document:
        image = page.render(scale=scale).to_pil()
        texts += [b.text for b in zxingcpp.read_barcodes(image)]
    return texts


def qr_png_of_pdf(pdf: bytes, scale: float = 2) -> bytes:
    image: Image.Image = pypdfium2.PdfDocument(pdf)[0].render(scale=scale).to_pil()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
