from django.urls import path

from swabline.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.home, name="home"),
    path("<uuid:public_id>/", views.progress, name="progress"),
    path("<uuid:public_id>/live", views.live, name="live"),
    path("<uuid:public_id>/alarms/<slug:kind>/", views.alarm, name="alarm"),
    path("<uuid:public_id>/thresholds/", views.thresholds, name="thresholds"),
]
