from django.urls import path

from . import link_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code_view, name="login_code"),
    path("logout/", views.logout_view, name="logout"),
    path("accounts/check-email/", link_views.check_email_view, name="check_email"),
    path("accounts/verify/<str:token>/", link_views.verify_view, name="verify"),
]
