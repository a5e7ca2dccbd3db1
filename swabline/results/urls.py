from django.urls import path

from swabline.results import views

app_name = "results"
urlpatterns = [
    path("", views.campaign_list, name="campaigns"),
    path("<uuid:public_id>/recall/", views.recall_list, name="recall-list"),
    path("<uuid:public_id>/recall.xlsx", views.recall_export, name="recall-export"),
]
