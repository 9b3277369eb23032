"""Seeding the stand-in: client applications, users and portal links (create or update, idempotent).

Used by the management commands (the demo) and the ``/_control/`` API (tests).
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from oauth2_provider.models import get_application_model

from .models import PortalLink

_url = URLValidator(schemes=["http", "https"])


def _check_urls(urls: list[str], *, field: str) -> None:
    for url in urls:
        try:
            _url(url)
        except ValidationError as exc:
            raise ValidationError(f"{field}: {url!r} is not an http(s) URL.") from exc


@transaction.atomic
def client_upsert(
    *,
    client_id: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    client_secret: str | None = None,
    name: str = "",
):
    """An authorization-code application signing RS256 ID tokens, with no consent screen.

    No ``client_secret`` makes a public client (PKCE only), as HaloPSA's "Authorisation Code (Native
    application)" method. ``skip_authorization`` sends a signed-in user straight back: that is what
    makes the HaloPSA custom-link deep login prompt-free.
    """
    Application = get_application_model()
    if not client_id or not redirect_uris:
        raise ValidationError("client_id and at least one redirect URI are required.")
    post_logout_redirect_uris = post_logout_redirect_uris or []
    _check_urls(redirect_uris, field="redirect_uris")
    _check_urls(post_logout_redirect_uris, field="post_logout_redirect_uris")

    app = Application.objects.filter(client_id=client_id).first() or Application(client_id=client_id)
    app.name = name or client_id
    app.redirect_uris = " ".join(redirect_uris)
    app.post_logout_redirect_uris = " ".join(post_logout_redirect_uris)
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.algorithm = Application.RS256_ALGORITHM
    app.skip_authorization = True
    if client_secret:
        app.client_type = Application.CLIENT_CONFIDENTIAL
        app.client_secret = client_secret  # hashed on save
        app.hash_client_secret = True
    else:
        app.client_type = Application.CLIENT_PUBLIC
        app.client_secret = ""
        app.hash_client_secret = False  # keep it empty rather than a hash of ""
    app.full_clean(exclude=["client_secret", "user"])
    app.save()
    return app


@transaction.atomic
def user_upsert(*, email: str, password: str, name: str = ""):
    """A stand-in user who signs in with email and password; ``name`` becomes the ``name`` claim."""
    email = (email or "").strip().lower()
    validate_email(email)
    if not password:
        raise ValidationError("A password is required.")
    User = get_user_model()
    user = User.objects.filter(username=email).first() or User(username=email)
    user.email = email
    user.first_name = (name or "")[:150]
    user.last_name = ""
    user.is_active = True
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def link_upsert(*, label: str, url: str) -> PortalLink:
    """A custom link on the stand-in's customer-portal page (e.g. "Billing" = an SSO login URL)."""
    if not label:
        raise ValidationError("A label is required.")
    _check_urls([url], field="url")
    link, _ = PortalLink.objects.update_or_create(label=label, defaults={"url": url})
    return link
