"""Issuing certificates: one signed HCERT per decided outcome, issued once."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from swabline.audit.services import record
from swabline.campaigns.enums import TestType
from swabline.certificates import dcc, hcert, keys
from swabline.certificates.models import Certificate
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome

CERTIFIED_STATES = (OutcomeState.NEGATIVE, OutcomeState.POSITIVE)


def certifiable(outcome: Outcome) -> bool:
    """A negative or positive outcome decided by a released lab result."""
    return (
        outcome.state in CERTIFIED_STATES
        and outcome.result_id is not None
        and outcome.release_id is not None
    )


def issue(*, outcome: Outcome, by: object | None = None) -> Certificate:
    """The certificate of `outcome`, issued on first call and the same row after.

    Signs with the active key (generating the first one on a fresh install), stores
    the HC1 text so a re-download is identical, audits the issue. A superseded
    outcome keeps the certificate it already had (it still verifies; the PDF says a
    newer result exists) but gets no new one.
    """
    existing = Certificate.objects.filter(outcome=outcome).first()
    if existing is not None:
        return existing
    if not certifiable(outcome):
        raise ValidationError(_("There is no released test result to certify."))
    if not outcome.current:
        raise ValidationError(_("A newer result exists: download its certificate instead."))
    try:
        with transaction.atomic():
            return _issue(outcome, by)
    except IntegrityError:  # the same outcome issued by a parallel request
        return Certificate.objects.get(outcome=outcome)


def _issue(outcome: Outcome, by: object | None) -> Certificate:
    signer = keys.signer()
    now = timezone.now()
    expires = min(now + dt.timedelta(days=settings.CERTIFICATE_VALID_DAYS), signer.not_after)
    uvci = dcc.new_uvci(settings.CERTIFICATE_COUNTRY)
    payload = dcc.payload(
        full_name=outcome.person.full_name,
        date_of_birth=dcc.birth_date(outcome.person.birth_date, outcome.person.birth_year),
        facts=facts_of(outcome),
        uvci=uvci,
        issuer=settings.CERTIFICATE_ISSUER,
        country=settings.CERTIFICATE_COUNTRY,
    )
    hcert.check_schema(payload)  # never sign what a verifier would refuse
    text = hcert.encode(
        payload,
        private_key=keys.private_key(signer),
        kid=bytes.fromhex(signer.kid),
        issued_at=now,
        expires_at=expires,
        issuer=settings.CERTIFICATE_COUNTRY,
    )
    certificate = Certificate.objects.create(
        outcome=outcome,
        key=signer,
        uvci=uvci,
        kid=signer.kid,
        hcert=text,
        issued_at=now,
        expires_at=expires,
    )
    record(
        by=by,
        action="certificates.issued",
        subject=certificate,
        province_code=outcome.province_code,
        outcome=outcome.pk,
        kid=signer.kid,
    )
    return certificate


def facts_of(outcome: Outcome) -> dcc.TestFacts:
    result = outcome.result
    sample = outcome.sample
    rapid = outcome.campaign.test_type == TestType.RAPID_ANTIGEN
    method = (result.method if result else "").strip()
    device = method if rapid and method.isdigit() else settings.CERTIFICATE_RAT_DEVICE
    centre = result.lab.name if result and not rapid else sample.tube.site.name
    return dcc.TestFacts(
        positive=outcome.state == OutcomeState.POSITIVE,
        rapid_antigen=rapid,
        sampled_at=sample.collected_at,
        centre=centre,
        device=device,
    )
