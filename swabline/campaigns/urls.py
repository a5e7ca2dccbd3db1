from django.urls import path

from swabline.campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.site_list, name="site-list"),
    path("<uuid:public_id>/", views.site_detail, name="site-detail"),
]
