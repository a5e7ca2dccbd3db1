from django.contrib import admin

from swabline.labs.models import Lab


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "place"]
    raw_id_fields = ["place"]
