"""Certificates: the PDF for a looked-up person, the public keys and /verify.

Placeholder routes (the certificates branch replaces the views), so that the look-up
page can link to `certificates:pdf` while both are built.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

app_name = "certificates"


def _not_yet(request: HttpRequest, **kwargs: object) -> HttpResponse:
    raise Http404


urlpatterns = [
    path("certificates/<int:outcome_id>.pdf", _not_yet, name="pdf"),
]
