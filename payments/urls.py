from django.urls import path

from . import views, wallet_views

app_name = "payments"

urlpatterns = [
    path("payments/pay/", views.pay, name="pay"),
    path("payments/<uuid:public_id>/", views.card, name="card"),
    path("payments/<uuid:public_id>/setup/", views.setup, name="setup"),
    path("payments/<uuid:public_id>/confirm/", views.confirm, name="confirm"),
    path("payments/<uuid:public_id>/result/", views.result, name="result"),
    path("payments/webhook/<str:key>/", views.webhook, name="webhook"),
    path("payments/cards/", wallet_views.wallet, name="wallet"),
    path("payments/cards/<int:customer_id>/setup/", wallet_views.card_setup, name="card_setup"),
    path("payments/cards/<int:customer_id>/confirm/", wallet_views.card_confirm, name="card_confirm"),
    path("payments/cards/remove/<int:card_id>/", wallet_views.card_remove, name="card_remove"),
    path("payments/autopay/<int:customer_id>/on/", wallet_views.autopay_on, name="autopay_on"),
    path("payments/autopay/<int:customer_id>/off/", wallet_views.autopay_off, name="autopay_off"),
]
