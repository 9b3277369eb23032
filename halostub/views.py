"""The stand-in's own pages: its sign-in page and a small "HaloPSA customer portal" landing page."""

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from .models import PortalLink


class EmailLoginForm(AuthenticationForm):
    """Email and password; stand-in users' usernames are their lower-cased emails."""

    username = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class LoginView(auth_views.LoginView):
    template_name = "halostub/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST signs out of the stand-in itself (its portal page's "Sign out" button)."""


def portal_home(request):
    """What a customer sees on the HaloPSA self-service portal: who is signed in and the custom links."""
    return render(request, "halostub/portal.html", {"links": PortalLink.objects.all()})
