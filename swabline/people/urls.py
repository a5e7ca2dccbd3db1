from django.urls import path

from swabline.people import views

app_name = "people"
urlpatterns = [
    path("", views.person_list, name="list"),
    path("<str:public_id>/", views.person_detail, name="detail"),
]
