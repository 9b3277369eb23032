"""Password sign-in for staff in the admin, scoped to the portal whose host is used."""

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.db.models.functions import Lower

from .admin_signin import admin_host_allowed, admin_signin_begin
from .audit import AuditKind, audit_record, client_ip
from .models import User


class PortalPasswordBackend(ModelBackend):
    """Email + password, looked up on this request's portal (or a portal-less superuser).

    Emails are unique per portal only, so the portal is part of the lookup: the same email on
    another portal is another account with another password. A superuser's email is unique across
    all users (``User.clean``), but rows written before that rule, or behind its back, could still
    give two candidates: then nobody signs in (and an audit row says why) rather than the database
    picking one of them. Every attempt goes through the back-off of ``admin_signin``, and
    superusers sign in only on ``ADMIN_HOSTS`` (elsewhere they are refused like a wrong password).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        email = (username or kwargs.get("email") or "").strip().lower()
        if not email or password is None or request is None:
            return None
        gate = admin_signin_begin(request=request, email=email)
        if gate.refused_for:
            return None
        portal = getattr(request, "portal", None)
        scope = Q(portal__isnull=True, is_superuser=True)
        if portal is not None:
            scope |= Q(portal=portal)
        candidates = list(
            User.objects.alias(email_lower=Lower("email")).filter(scope, email_lower=email).order_by("pk")[:2]
        )
        if len(candidates) != 1:
            User().set_password(password)  # equalise timing with the found-user path
            if len(candidates) > 1:
                audit_record(
                    kind=AuditKind.ADMIN_SIGNIN_AMBIGUOUS,
                    portal=portal,
                    email=email,
                    ip=client_ip(request),
                    detail={"users": [user.pk for user in candidates]},
                )
            gate.failed(reason="ambiguous" if candidates else "unknown_email")
            return None
        [user] = candidates
        if user.is_superuser and not admin_host_allowed(request=request):
            # Refused like a wrong password, whatever the password: a distinct answer here would
            # tell a guesser that the email is a superuser's, or that the password was right.
            User().set_password(password)
            audit_record(
                kind=AuditKind.ADMIN_SIGNIN_HOST_REFUSED,
                portal=portal,
                user=user,
                email=email,
                ip=client_ip(request),
                detail={"host": request.get_host()[:200]},
            )
            gate.failed(reason="superuser_not_on_admin_host", user=user)
            return None
        if not (user.check_password(password) and self.user_can_authenticate(user)):
            gate.failed(reason="wrong_password", user=user)
            return None
        gate.succeeded(user=user)
        return user
