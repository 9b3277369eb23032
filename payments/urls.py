from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("payments/pay/", views.pay, name="pay"),
    path("payments/<uuid:public_id>/", views.card, name="card"),
    path("payments/<uuid:public_id>/setup/", views.setup, name="setup"),
    path("payments/<uuid:public_id>/confirm/", views.confirm, name="confirm"),
    path("payments/<uuid:public_id>/result/", views.result, name="result"),
    path("payments/webhook/<str:key>/", views.webhook, name="webhook"),
]
