from django.urls import URLPattern

app_name = "backfill"
urlpatterns: list[URLPattern] = []
