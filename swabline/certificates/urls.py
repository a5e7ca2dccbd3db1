"""Certificates: the PDF for a looked-up person, the public keys and /verify."""

from django.urls import path

from swabline.certificates import views

app_name = "certificates"

urlpatterns = [
    path("certificates/<int:outcome_id>.pdf", views.certificate_pdf, name="pdf"),
    path("certificates/keys.json", views.keys_json, name="keys"),
    path("verify", views.verify_page, name="verify"),
    path("verify-sw.js", views.service_worker, name="service-worker"),
]
