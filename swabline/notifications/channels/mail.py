"""E-mail through Django's e-mail backend (console in development, SMTP in
production), one connection held open across a batch. The message's Message-ID
is built from its idempotency key, so a retried message is recognisably the same."""

from __future__ import annotations

import contextlib
import smtplib
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from swabline.notifications.channels import Outgoing, Sent
from swabline.notifications.enums import Reason

DOMAIN = "swabline.notifications"


def message_id(key: str) -> str:
    return f"<{key}@{DOMAIN}>"


class EmailTransport:
    def send(self, messages: list[Outgoing], pool: ThreadPoolExecutor) -> list[Sent]:
        if not messages:
            return []
        connection = get_connection(fail_silently=False)
        results: list[Sent] = []
        try:
            connection.open()
        except (OSError, smtplib.SMTPException):
            return [Sent.retry(Reason.UNREACHABLE) for _ in messages]
        try:
            for m in messages:
                results.append(self._one(connection, m))
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.close()
        return results

    def _one(self, connection: object, m: Outgoing) -> Sent:
        email = EmailMessage(
            subject=m.subject,
            body=m.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[m.recipient],
            headers={"Message-ID": message_id(m.key), "Idempotency-Key": m.key},
            connection=connection,  # type: ignore[arg-type]
        )
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            temporary = all(400 <= int(c) < 500 for c in codes)
            return Sent.retry(Reason.GATEWAY_ERROR) if temporary else Sent.failed(Reason.REJECTED)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return Sent.retry(Reason.GATEWAY_ERROR)
            return Sent.failed(Reason.REJECTED)
        except (OSError, smtplib.SMTPException):
            return Sent.retry(Reason.UNREACHABLE)
        return Sent.delivered()

    def close(self) -> None:
        pass
