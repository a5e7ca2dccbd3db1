from django.urls import path

from swabline.people import public_views

urlpatterns = [
    path("", public_views.register, name="register"),
    path("member-row/", public_views.member_row, name="register-member-row"),
    path("wards/", public_views.ward_options, name="register-wards"),
    path("done/<str:token>/", public_views.register_done, name="register-done"),
    path("qr/<str:token>.png", public_views.qr_png, name="register-qr-png"),
    path("card/<str:token>.pdf", public_views.card_pdf, name="register-card-pdf"),
]
