"""SMS: printed to stdout in development, or posted to an HTTP gateway.

The gateway's URL, authentication (a header, or basic), body format (JSON or form)
and template (a JSON object whose string values may hold `{to}`, `{text}`, `{key}`,
`{sender}`) come from settings. Each request carries the message's
`Idempotency-Key`. With `NOTIFY_SMS_BATCH` > 1 the messages go in batches,
`{"messages": [<template>, …]}`, to a gateway with a batch API: one answer for all.
"""

from __future__ import annotations

import base64
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from swabline.notifications.channels import Outgoing, Sent, from_http_status, spread
from swabline.notifications.channels.http import HttpClient
from swabline.notifications.enums import Reason


class ConsoleSms:
    """Development: the message on stdout (never in the logs)."""

    def send(self, messages: list[Outgoing], pool: ThreadPoolExecutor) -> list[Sent]:
        for m in messages:
            sys.stdout.write(f"[sms {m.key}] to {m.recipient}: {m.text}\n")
        sys.stdout.flush()
        return [Sent.delivered() for _ in messages]

    def close(self) -> None:
        pass


def fill(template: Any, values: dict[str, str]) -> Any:
    """The template with placeholders filled in its string values (never in keys or
    the JSON text itself, so a message cannot break the structure)."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        out = template
        for name, value in values.items():
            out = out.replace("{" + name + "}", value)
        return out
    return template


class HttpSms:
    def __init__(self) -> None:
        if not settings.NOTIFY_SMS_URL:
            raise RuntimeError("NOTIFY_SMS_BACKEND=http needs NOTIFY_SMS_URL.")
        self.url = settings.NOTIFY_SMS_URL
        self.template = json.loads(settings.NOTIFY_SMS_TEMPLATE)
        self.form = settings.NOTIFY_SMS_FORMAT == "form"
        self.batch = max(1, settings.NOTIFY_SMS_BATCH)
        self.client = HttpClient(timeout=settings.NOTIFY_HTTP_TIMEOUT)
        self.headers = {"Connection": "keep-alive"}
        if settings.NOTIFY_SMS_AUTH_HEADER:
            self.headers["Authorization"] = settings.NOTIFY_SMS_AUTH_HEADER
        elif settings.NOTIFY_SMS_BASIC_AUTH:
            token = base64.b64encode(settings.NOTIFY_SMS_BASIC_AUTH.encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def _fields(self, m: Outgoing) -> Any:
        values = {
            "to": m.recipient,
            "text": m.text,
            "key": m.key,
            "sender": settings.NOTIFY_SMS_SENDER,
        }
        return fill(self.template, values)

    def _post(self, payload: Any, key: str) -> Sent:
        if self.form:
            body = urlencode(payload).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload, ensure_ascii=False).encode()
            content_type = "application/json; charset=utf-8"
        headers = {**self.headers, "Content-Type": content_type, "Idempotency-Key": key}
        try:
            status, _body = self.client.post(self.url, body, headers)
        except OSError:
            return Sent.retry(Reason.UNREACHABLE)
        except ValueError:  # a malformed answer (lengths): the gateway misbehaved
            return Sent.retry(Reason.GATEWAY_ERROR)
        return from_http_status(status)

    def _one(self, m: Outgoing) -> Sent:
        return self._post(self._fields(m), m.key)

    def _many(self, chunk: list[Outgoing]) -> list[Sent]:
        payload = {"messages": [{**self._fields(m), "id": m.key} for m in chunk]}
        sent = self._post(payload, "batch-" + chunk[0].key)
        return [sent] * len(chunk)

    def send(self, messages: list[Outgoing], pool: ThreadPoolExecutor) -> list[Sent]:
        if self.batch == 1:
            return spread(pool, self._one, messages)
        chunks = [messages[i : i + self.batch] for i in range(0, len(messages), self.batch)]
        return [s for sent in spread(pool, self._many, chunks) for s in sent]

    def close(self) -> None:
        self.client.close()
