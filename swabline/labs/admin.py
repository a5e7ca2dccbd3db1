"""Admin: labs are reference data; results, uploads and mappings change only through
the services (read-only here), campaign alarm hours may be fixed by an admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from swabline.labs.models import ColumnMapping, Lab, LabCampaignSettings, ResultUpload, TubeResult


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "place"]
    raw_id_fields = ["place"]


@admin.register(LabCampaignSettings)
class LabCampaignSettingsAdmin(admin.ModelAdmin):
    list_display = ["campaign", "worklist_warning_hours", "worklist_alarm_hours"]
    raw_id_fields = ["campaign"]


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TubeResult)
class TubeResultAdmin(ReadOnly):
    list_display = ["tube", "lab", "value", "state", "current", "source", "entered_at"]
    list_filter = ["state", "value", "source", "lab"]
    list_select_related = ["tube", "lab"]
    search_fields = ["tube__code"]


@admin.register(ResultUpload)
class ResultUploadAdmin(ReadOnly):
    list_display = ["file_name", "lab", "status", "rows", "created", "errors", "uploaded_at"]
    list_filter = ["status", "lab"]
    exclude = ["report"]


@admin.register(ColumnMapping)
class ColumnMappingAdmin(ReadOnly):
    list_display = ["name", "lab", "updated_at"]
