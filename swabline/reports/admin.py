from django.contrib import admin

from swabline.reports.models import PoolSizePolicy


@admin.register(PoolSizePolicy)
class PoolSizePolicyAdmin(admin.ModelAdmin[PoolSizePolicy]):
    list_display = ("campaign", "sizes", "updated_at")
    raw_id_fields = ("campaign", "updated_by")
