"""Portal staff: the "Portal administrators" group and making a staff user of one portal.

Why a group: Django's admin shows a staff user only the models they hold permissions on, so a staff
user with no permissions sees an empty admin. Which *rows* they see is decided elsewhere
(``portal.admin_scoping``: always their own portal's); the permissions here decide which *models*
and what they may do with them. Read-only models (the SSO event log, audit trail, pending
verifications) get "view" only, so the admin cannot be used to forge or erase security history.

The group is (re)created after every ``migrate`` (``post_migrate``, see ``portal.apps``), so a fresh
database and a database migrated from an older release both have it, with exactly these grants.
"""

from __future__ import annotations

import secrets

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, transaction

from .emails import normalize_email

PORTAL_ADMINS_GROUP = "Portal administrators"

ALL = ("view", "add", "change", "delete")

#: model label -> the actions granted. Models that do not exist (yet) are skipped.
PORTAL_ADMIN_GRANTS: dict[str, tuple[str, ...]] = {
    "portal.customer": ALL,
    "portal.contact": ALL,
    "portal.invoice": ALL,
    "portal.payment": ALL,
    "portal.portal": ("view", "change"),
    "sso.ssoconfig": ALL,
    "sso.ssoevent": ("view",),
    "accounts.user": ("view", "change"),
    "accounts.identity": ("view", "change"),  # change = the resend and revoke actions; rows stay read-only
    "accounts.emailverification": ("view",),
    "accounts.logincode": ("view",),
    "accounts.auditevent": ("view",),
    "payments.stripeaccount": ("view", "add", "change"),
    "payments.cardpayment": ("view", "change"),  # change = refunds; the rows themselves stay read-only
    "payments.paymentaudit": ("view",),
    "payments.halowriteback": ("view", "change"),  # change = "Retry write-back"; rows stay read-only
}


def _granted_permissions(*, apps, using: str) -> list:
    """The Permission rows for ``PORTAL_ADMIN_GRANTS``, creating any that don't exist yet.

    ``post_migrate`` runs app by app, and Django creates an app's permissions in that app's own
    handler: when ours runs, a later app's permissions may not exist yet, so we create them here
    (``create_permissions`` is idempotent; Django's later run for that app finds them).
    """
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for app_label in sorted({label.split(".")[0] for label in PORTAL_ADMIN_GRANTS}):
        try:
            # The installed app's config (as post_migrate passes it); ``apps`` may be migration state.
            app_config = global_apps.get_app_config(app_label)
        except LookupError:
            continue
        create_permissions(app_config, verbosity=0, interactive=False, using=using, apps=apps)

    permissions = []
    for label, actions in PORTAL_ADMIN_GRANTS.items():
        app_label, model_name = label.split(".")
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue  # tolerate models that an older or newer schema lacks
        content_type = ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=False)
        codenames = [f"{action}_{model._meta.model_name}" for action in actions]
        permissions.extend(
            Permission.objects.using(using).filter(content_type=content_type, codename__in=codenames)
        )
    return permissions


def portal_admin_group_ensure(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS):
    """Create or update the group so it holds exactly the grants above (an old extra grant is removed)."""
    Group = apps.get_model("auth", "Group")
    with transaction.atomic(using=using):
        group, _created = Group.objects.using(using).get_or_create(name=PORTAL_ADMINS_GROUP)
        group.permissions.set(_granted_permissions(apps=apps, using=using))
    return group


def ensure_portal_admin_group(sender, app_config=None, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """``post_migrate`` receiver (connected for the ``portal`` app only, so it runs once per migrate)."""
    try:
        apps.get_model("auth", "Group")
    except LookupError:
        return  # auth is not migrated yet (e.g. ``migrate portal 0001`` on an empty database)
    portal_admin_group_ensure(apps=apps, using=using)


def staff_password_generate() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def portal_staff_user_ensure(*, portal, email: str, password: str | None = None, name: str = ""):
    """Create or update ``email`` as a staff user of ``portal`` in the Portal administrators group.

    Returns ``(user, created)``. ``password=None`` leaves an existing user's password alone (a new
    user without one gets an unusable password). Staff are never superusers: a superuser would see
    every portal's data, which is exactly what the per-portal scoping exists to prevent.
    """
    from accounts.models import User

    email = normalize_email(email)
    user = User.objects.select_for_update().filter(portal=portal, email__iexact=email).first()
    created = user is None
    if created:
        user = User(portal=portal, email=email)
    user.is_staff = True
    user.is_superuser = False
    user.is_active = True
    if name:
        user.name = name
    if password is not None:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.full_clean(exclude=["password"], validate_constraints=False)
    user.save()
    user.groups.add(portal_admin_group_ensure())
    return user, created
