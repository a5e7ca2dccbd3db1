from django.urls import path

from swabline.people import import_views, request_views, views

app_name = "people"
urlpatterns = [
    path("", views.person_list, name="list"),
    path("new/", views.person_new, name="new"),
    path("export.xlsx", views.people_export_xlsx, name="export-xlsx"),
    path("export.csv", views.people_export_csv, name="export-csv"),
    path("stickers.pdf", views.sticker_sheets, name="stickers"),
    path("import/", import_views.import_start, name="import"),
    path("import/template.xlsx", import_views.import_template, name="import-template"),
    path("import/<uuid:public_id>/", import_views.import_detail, name="import-detail"),
    path("import/<uuid:public_id>/progress/", import_views.import_progress, name="import-progress"),
    path("import/<uuid:public_id>/commit/", import_views.import_commit, name="import-commit"),
    path(
        "import/<uuid:public_id>/errors.xlsx",
        import_views.import_failing_rows,
        name="import-errors",
    ),
    path("requests/", request_views.request_list, name="requests"),
    path("requests/new/<str:public_id>/", request_views.request_new, name="request-new"),
    path("requests/<uuid:public_id>/", request_views.request_detail, name="request-detail"),
    path(
        "requests/<uuid:public_id>/access.json",
        request_views.request_export,
        name="request-export",
    ),
    path("requests/<uuid:public_id>/erase/", request_views.request_erase, name="request-erase"),
    path("<str:public_id>/", views.person_detail, name="detail"),
    path("<str:public_id>/card.pdf", views.person_card, name="card"),
    path("<str:public_id>/merge/", views.person_merge, name="merge"),
]
