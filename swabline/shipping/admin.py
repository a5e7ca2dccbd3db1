"""Shipments in the admin: to look, not to edit. Status changes go through the
services (they move tubes and write the audit trail); the admin cannot."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from swabline.shipping.models import ReceiptDiscrepancy, Shipment, ShipmentTube, TubeRejection


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ItemInline(admin.TabularInline):
    model = ShipmentTube
    fields = ("tube", "active", "added_at", "scanned_at", "received_at")
    readonly_fields = ("tube", "active", "added_at", "scanned_at", "received_at")
    raw_id_fields = ["tube"]
    extra = 0
    can_delete = False


@admin.register(Shipment)
class ShipmentAdmin(ReadOnly):
    list_display = [
        "public_id",
        "site",
        "lab",
        "status",
        "created_at",
        "handed_over_at",
        "received_at",
    ]
    list_filter = ["status"]
    search_fields = ["public_id", "site__name", "lab__name"]
    inlines = [ItemInline]


@admin.register(ReceiptDiscrepancy)
class ReceiptDiscrepancyAdmin(ReadOnly):
    list_display = ["tube_code", "kind", "shipment", "recorded_at", "resolved_at"]
    list_filter = ["kind"]
    search_fields = ["tube_code"]


@admin.register(TubeRejection)
class TubeRejectionAdmin(ReadOnly):
    list_display = ["tube", "reason", "lab", "rejected_at"]
    list_filter = ["reason"]
    raw_id_fields = ["tube"]
