from django.urls import path

from swabline.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("person/<str:public_id>/", views.person, name="person"),
]
