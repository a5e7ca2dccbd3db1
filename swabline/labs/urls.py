from django.urls import path

from swabline.labs import views

app_name = "labs"
urlpatterns = [
    path("", views.lab_list, name="list"),
    path("<uuid:public_id>/", views.lab_detail, name="detail"),
]
