from django.urls import path

from swabline.backfill import views

app_name = "backfill"
urlpatterns = [
    path("", views.home, name="home"),
    path("find/", views.find, name="find"),
    path("register/", views.register, name="register"),
    path("enter/", views.enter, name="enter"),
    path("names-missing/", views.names_missing, name="names-missing"),
    path("backlog/", views.declare, name="declare"),
    path("backlog/panel/", views.backlog_panel, name="backlog-panel"),
    path("template.xlsx", views.template, name="template"),
    path("upload/", views.upload, name="upload"),
]
