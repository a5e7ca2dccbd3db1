"""Read-only admin for releases and outcomes: they change only through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from swabline.results.models import Outcome, Release


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Release)
class ReleaseAdmin(ReadOnly):
    list_display = ["released_at", "lab", "kind", "tubes", "people", "released_by"]
    list_filter = ["kind", "lab"]
    list_select_related = ["lab", "released_by"]


@admin.register(Outcome)
class OutcomeAdmin(ReadOnly):
    list_display = ["decided_at", "person", "campaign", "state", "current", "release"]
    list_filter = ["state", "current"]
    list_select_related = ["person", "campaign", "release"]
    raw_id_fields = ["person", "campaign", "tube", "sample", "result", "release"]
