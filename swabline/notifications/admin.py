from django.contrib import admin

from swabline.notifications.models import Notification, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("partner", "url", "active", "created_at")
    list_filter = ("active",)
    raw_id_fields = ("partner",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read-only: the outbox changes through the worker, receipts and resends."""

    list_display = ("id", "channel", "status", "attempts", "reason", "created_at")
    list_filter = ("status", "channel")
    fields = ("channel", "status", "attempts", "reason", "created_at", "delivered_at")
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
