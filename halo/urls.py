from django.urls import path

from . import views

app_name = "halo"

urlpatterns = [
    path("halo/webhook/<str:key>/", views.webhook, name="webhook"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("invoice-access/", views.no_invoice_access, name="no_invoice_access"),
]
