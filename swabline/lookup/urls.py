from django.urls import path

from swabline.lookup import views

app_name = "lookup"
urlpatterns = [
    path("", views.lookup, name="form"),
    path("result/", views.result, name="result"),
    path("slip/", views.slip, name="slip"),
    path("forget/", views.forget, name="forget"),
    path("help/", views.staff, name="staff"),
    path("help/<str:public_id>/unlock/", views.unlock, name="unlock"),
]
