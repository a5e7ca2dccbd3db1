from django.urls import path

from swabline.sampling import views

app_name = "sampling"
urlpatterns = [
    path("", views.station, name="station"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("status/", views.site_status, name="site-status"),
]
