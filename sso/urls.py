from django.urls import path

from . import views

app_name = "sso"

urlpatterns = [
    path("sso/<str:key>/login/", views.login_start, name="login"),
    path("sso/<str:key>/try/", views.dry_run_start, name="dry_run"),
    path("callback", views.callback, name="callback"),
]
