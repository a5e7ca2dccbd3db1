from django.contrib import admin

from swabline.campaigns.models import Campaign, CampaignWard, Site


class CampaignWardInline(admin.TabularInline):
    model = CampaignWard
    raw_id_fields = ["ward"]
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "province", "starts_on", "ends_on", "test_type", "status"]
    raw_id_fields = ["province"]
    inlines = [CampaignWardInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "ward"]
    raw_id_fields = ["ward"]
