from django.contrib import admin

from swabline.places.models import DataSource, Place


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "level", "system", "province_code"]
    list_filter = ["system", "level"]
    search_fields = ["name_folded", "code"]
    readonly_fields = ["path", "province_code"]
    raw_id_fields = ["parent"]

    def get_search_results(self, request, queryset, search_term):
        from swabline.core.text import fold

        return super().get_search_results(request, queryset, fold(search_term))


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "licence", "loaded_at", "current_units", "legacy_units"]
