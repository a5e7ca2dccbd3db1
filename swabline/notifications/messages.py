"""What the messages say: short, Vietnamese by default, with the look-up address and
the person's code; the alarming outcomes say what to do next.

Rendered at delivery from the row's outcome state (nothing personal is stored in the
outbox beyond the address). SMS length: a text in GSM-7 fits 160 characters per
segment (153 when split), anything else (Vietnamese with diacritics) 70 (67); a text
longer than `NOTIFY_SMS_MAX_SEGMENTS` falls back to the short form.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from swabline.people.codes import format_person_code

LONG = {
    "negative": gettext_lazy(
        "Swabline: the test result of code %(code)s is NEGATIVE. Details: %(url)s"
    ),
    "positive": gettext_lazy(
        "Swabline: the test result of code %(code)s is POSITIVE. Stay at home, avoid"
        " contact with others and call your ward health station now. Details: %(url)s"
    ),
    "recall": gettext_lazy(
        "Swabline: code %(code)s must be tested again on its own (the pooled sample was"
        " positive). Stay at home and go to your sampling site today. Details: %(url)s"
    ),
    "recollect": gettext_lazy(
        "Swabline: the sample of code %(code)s could not be tested. Please go back to your"
        " sampling site to be swabbed again. Details: %(url)s"
    ),
}
SHORT = {
    "negative": gettext_lazy("Swabline %(code)s: NEGATIVE. %(url)s"),
    "positive": gettext_lazy("Swabline %(code)s: POSITIVE, stay at home. %(url)s"),
    "recall": gettext_lazy("Swabline %(code)s: test again today. %(url)s"),
    "recollect": gettext_lazy("Swabline %(code)s: swab again. %(url)s"),
}
SUBJECT = gettext_lazy("Your test result (code %(code)s)")
CORRECTED = gettext_lazy("Corrected result.")

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def lookup_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/lookup/"


def render(state: str, code: str, *, corrected: bool = False, short: bool = False) -> Text:
    """The message about `state` for the person with `code`, in NOTIFY_LANGUAGE."""
    body, subject = _templates(_language(), lookup_url(), state, corrected, short)
    values = {"code": format_person_code(code)}
    return Text(subject=subject % values, body=body % values)


def _language() -> str:
    return str(getattr(settings, "NOTIFY_LANGUAGE", "vi"))


@functools.lru_cache(maxsize=512)
def _templates(
    language: str, url: str, state: str, corrected: bool, short: bool
) -> tuple[str, str]:
    """The body and subject with only `%(code)s` left to fill: translated once per
    process, not once per message (the worker renders thousands a second)."""
    with translation.override(language):
        table = SHORT if short else LONG
        values = {"code": "%(code)s", "url": url.replace("%", "%%")}
        body = str(table.get(state, table["negative"])) % values
        if corrected and not short:
            body = f"{_(str(CORRECTED))} {body}"
        return body, str(SUBJECT) % {"code": "%(code)s"}


def ascii_only(text: str) -> str:
    """Vietnamese without diacritics, for gateways that only take plain text."""
    from unidecode import unidecode

    return str(unidecode(text))


def segments(text: str) -> int:
    """How many SMS segments `text` takes (GSM-7 or UCS-2)."""
    if all(ch in GSM7 for ch in text):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    if len(text) <= single:
        return 1
    return -(-len(text) // multi)


def sms_text(state: str, code: str, *, corrected: bool = False) -> str:
    """The SMS: the long form unless it needs more than NOTIFY_SMS_MAX_SEGMENTS."""
    template = _sms_template(
        _language(),
        lookup_url(),
        state,
        corrected,
        settings.NOTIFY_SMS_ASCII,
        settings.NOTIFY_SMS_MAX_SEGMENTS,
    )
    return template % {"code": format_person_code(code)}


@functools.lru_cache(maxsize=512)
def _sms_template(
    language: str, url: str, state: str, corrected: bool, to_ascii: bool, max_segments: int
) -> str:
    sample = {"code": "XXXX-XXXX"}  # every code has this length
    template = ""
    for short in (False, True):
        template = _templates(language, url, state, corrected, short)[0]
        if to_ascii:
            template = ascii_only(template)
        if segments(template % sample) <= max_segments:
            break
    return template


def webhook_body(row: dict[str, Any], key: str) -> bytes:
    """The JSON a partner receives: ids and the outcome, no names."""
    payload = {
        "id": key,
        "event": f"outcome.{row['trigger']}",
        "person": row["person__public_id"],
        "code": format_person_code(row["person__code"]),
        "campaign": str(row["outcome__campaign__public_id"]),
        "outcome": row["state"],
        "decided_at": row["outcome__decided_at"].isoformat(),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
