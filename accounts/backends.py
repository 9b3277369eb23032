"""Password sign-in for staff in the admin, scoped to the portal whose host is used."""

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from .models import User


class PortalPasswordBackend(ModelBackend):
    """Email + password, looked up on this request's portal (or a portal-less superuser).

    Emails are unique per portal only, so the portal is part of the lookup: the same email on
    another portal is another account with another password.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        email = (username or kwargs.get("email") or "").strip().lower()
        if not email or password is None or request is None:
            return None
        portal = getattr(request, "portal", None)
        scope = Q(portal__isnull=True, is_superuser=True)
        if portal is not None:
            scope |= Q(portal=portal)
        user = User.objects.filter(scope, email=email).first()
        if user is None:
            User().set_password(password)  # equalise timing with the found-user path
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
