from django.urls import path

from swabline.labs import views

app_name = "labs"
urlpatterns = [
    path("", views.lab_list, name="list"),
    path("<uuid:public_id>/", views.lab_detail, name="detail"),
    path("<uuid:public_id>/worklist/", views.worklist, name="worklist"),
    path("<uuid:public_id>/entry/", views.entry, name="entry"),
    path("<uuid:public_id>/entry/tube/", views.entry_tube, name="entry-tube"),
    path("<uuid:public_id>/entry/save/", views.entry_save, name="entry-save"),
    path("<uuid:public_id>/entry/undo/", views.entry_undo, name="entry-undo"),
    path("<uuid:public_id>/uploads/", views.upload_list, name="uploads"),
    path("<uuid:public_id>/uploads/<uuid:upload_id>/", views.upload_detail, name="upload"),
    path("<uuid:public_id>/review/", views.review, name="review"),
    path("<uuid:public_id>/tubes/<str:code>/", views.tube_detail, name="tube"),
    path("<uuid:public_id>/alarms/<uuid:campaign_id>/", views.alarm_settings, name="alarms"),
]
