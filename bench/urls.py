"""The project's URLs plus the plain-Django baseline endpoints under /bench/."""

from __future__ import annotations

from django.urls import path

from bench.baseline import views as baseline_views
from swabline.urls import urlpatterns as swabline_urlpatterns

urlpatterns = [
    *swabline_urlpatterns,
    path("bench/plain-insert", baseline_views.plain_insert, name="bench-plain-insert"),
    path("bench/plain-get/<str:key>", baseline_views.plain_get, name="bench-plain-get"),
    path("bench/worker", baseline_views.worker, name="bench-worker"),
]
