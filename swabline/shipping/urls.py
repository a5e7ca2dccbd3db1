from django.urls import path

from swabline.shipping import views

app_name = "shipping"
urlpatterns = [
    path("", views.shipment_list, name="list"),
    path("new/", views.shipment_new, name="new"),
    path("lab/", views.receipt_list, name="receipt_list"),
    path("<uuid:public_id>/", views.shipment_detail, name="detail"),
    path("<uuid:public_id>/tubes/", views.add_tube, name="add-tube"),
    path("<uuid:public_id>/tubes/remove/", views.remove_tube, name="remove-tube"),
    path("<uuid:public_id>/hand-over/", views.hand_over, name="hand-over"),
    path("<uuid:public_id>/cancel/", views.cancel, name="cancel"),
    path("<uuid:public_id>/manifest.pdf", views.manifest_pdf, name="manifest-pdf"),
    path("<uuid:public_id>/manifest.xlsx", views.manifest_xlsx, name="manifest-xlsx"),
    path("<uuid:public_id>/receive/", views.receipt, name="receipt"),
    path("<uuid:public_id>/receive/scan/", views.receipt_scan, name="receipt-scan"),
    path("<uuid:public_id>/receive/unscan/", views.receipt_unscan, name="receipt-unscan"),
    path("<uuid:public_id>/receive/confirm/", views.receive, name="receive"),
    path("<uuid:public_id>/reject/", views.reject, name="reject"),
]
