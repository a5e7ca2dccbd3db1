from django.urls import path

from swabline.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<uuid:campaign_id>/daily.<str:fmt>", views.daily, name="daily"),
    path("<uuid:campaign_id>/positives.xlsx", views.positives, name="positives"),
    path("<uuid:campaign_id>/turnaround/", views.turnaround_page, name="turnaround"),
    path("<uuid:campaign_id>/advisor/", views.advisor_page, name="advisor"),
]
