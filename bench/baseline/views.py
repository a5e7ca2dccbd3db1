"""The plain-Django baselines: the least a Django view can do for the same work.

They run behind the project's full middleware stack (bench.settings keeps it), so a
real endpoint's ratio to them measures only what the application adds.
"""

from __future__ import annotations

import json
import os

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bench.baseline.models import BenchRow


@csrf_exempt
@require_POST
def plain_insert(request: HttpRequest) -> JsonResponse:
    """Creates one row from `{"key": str, "payload": object}`."""
    try:
        body = json.loads(request.body)
        key = body["key"]
        payload = body.get("payload", {})
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "bad request"}, status=400)
    if not isinstance(key, str) or not 0 < len(key) <= 64 or not isinstance(payload, dict):
        return JsonResponse({"error": "bad request"}, status=400)
    try:
        row = BenchRow.objects.create(key=key, payload=payload)
    except IntegrityError:
        return JsonResponse({"error": "duplicate key"}, status=409)
    return JsonResponse({"id": row.pk, "key": row.key}, status=201)


@require_GET
def plain_get(request: HttpRequest, key: str) -> JsonResponse:
    """Reads one row by its unique key."""
    row = BenchRow.objects.filter(key=key).first()
    if row is None:
        return JsonResponse({"error": "not found"}, status=404)
    return JsonResponse(
        {
            "id": row.pk,
            "key": row.key,
            "payload": row.payload,
            "created_at": row.created_at.isoformat(),
        }
    )


@require_GET
def worker(request: HttpRequest) -> HttpResponse:
    """The pid of the server worker holding this connection: the load generator asks on
    each new keep-alive connection, to spread its connections evenly over the workers."""
    return HttpResponse(str(os.getpid()), content_type="text/plain")
