"""Admin scoping: a staff user belongs to one portal and sees and edits only that portal's rows.

Every ModelAdmin of tenant data inherits ``PortalScopedAdmin`` and names the path from its model
to ``Portal`` (``portal_field``). Querysets, foreign-key choices, inlines and object URLs are all
filtered, so a row of another portal is a 404, not a 403 or a "perhaps it was deleted" redirect
(no existence leak). Superusers see everything.
"""

import logging

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, models, router, transaction
from django.http import Http404, HttpResponseRedirect

from .money import MoneyFormField

logger = logging.getLogger(__name__)

#: What a changelist's query-string lookups raise on values the field or the database cannot hold:
#: a date hierarchy of year 9999 (``ValueError``: year 10000 is out of range), a 30-digit year
#: (``OverflowError`` while building the SQL), ``?total=1e999999`` (PostgreSQL's numeric overflow,
#: ``DataError``), a value a field's ``to_python`` refuses (``ValidationError``).
BAD_LOOKUP_ERRORS = (ValueError, OverflowError, DataError, ValidationError)


def admin_portal(request):
    """The portal a staff user may manage; None means all (superuser)."""
    user = request.user
    if user.is_superuser:
        return None
    if user.portal_id is None:
        raise PermissionDenied("This staff account belongs to no portal.")
    return user.portal


def _scope(queryset, path: str, portal):
    """``queryset`` narrowed to ``portal`` through ``path`` (``"pk"`` for Portal itself)."""
    # Filter by the primary key: it works for a foreign key path and for ``pk`` alike.
    return queryset.filter(**{path: portal.pk})


def _scoped_foreignkey_kwargs(db_field, request, kwargs):
    """Narrow a foreign key's choices to the staff user's portal (a forged POST then fails validation)."""
    portal = admin_portal(request)
    if portal is None:
        return kwargs
    related = db_field.related_model
    if related._meta.label == "portal.Portal":
        kwargs["queryset"] = related.objects.filter(pk=portal.pk)
        kwargs.setdefault("initial", portal.pk)
    else:
        path = scoped_path(related)
        if path is not None:
            kwargs["queryset"] = _scope(kwargs.get("queryset", related._default_manager.all()), path, portal)
    return kwargs


def _scoped_manytomany_kwargs(db_field, request, kwargs):
    portal = admin_portal(request)
    if portal is None:
        return kwargs
    path = scoped_path(db_field.related_model)
    if path is not None:
        related = db_field.related_model
        kwargs["queryset"] = _scope(kwargs.get("queryset", related._default_manager.all()), path, portal)
    return kwargs


class PortalScopingMixin:
    """Rows and foreign-key choices stay in the staff user's portal (admins and inlines alike).

    For inlines the parent object is already scoped, so filtering their rows again is defence in
    depth. ``portal_field`` is the model's ORM path to Portal.
    """

    #: ORM path from this model to its Portal, e.g. "portal" or "customer__portal" ("pk" for Portal).
    portal_field: str = "portal"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        portal = admin_portal(request)
        if portal is None:
            return qs
        return _scope(qs, self.portal_field, portal)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = _scoped_foreignkey_kwargs(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = _scoped_manytomany_kwargs(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


#: The inline flavour keeps its own name for readability at the call sites.
PortalScopedInlineMixin = PortalScopingMixin


class MoneyInputMixin:
    """Every decimal column is money: an amount typed into the admin follows the rule of every money
    input (``portal.money.typed_amount``), not ``Decimal``'s, which also reads Arabic-Indic digits and
    "1e1" as numbers."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.DecimalField):
            kwargs.setdefault("form_class", MoneyFormField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class BadLookupsMixin:
    """Odd query-string lookups on a changelist are Django's "bad filter" answer, never a 500.

    Django turns the errors of ``queryset.filter()`` into ``IncorrectLookupParameters`` (which
    ``changelist_view`` answers with a redirect to ``?e=1``), but not those raised later: the date
    hierarchy's own date arithmetic and the evaluation of the queries (the count and the rows),
    which both run in ``get_changelist_instance``. Those become ``IncorrectLookupParameters`` here.
    The changelist is built in a savepoint, so a database error does not leave the request's
    transaction aborted for whatever runs after it (the session, the access log).
    """

    def get_changelist_instance(self, request):
        try:
            with transaction.atomic(using=router.db_for_read(self.model)):
                return super().get_changelist_instance(request)
        except BAD_LOOKUP_ERRORS as exc:
            raise IncorrectLookupParameters(exc) from exc


class ConcurrentSaveMixin:
    """Two admins saving the same unique value at once: the second gets the form's error, not a 500.

    The form checks unique fields before the save, but between that check and the ``INSERT`` another
    admin (or a HaloPSA sync) can commit the same portal's connection, the same contact email, the
    same group name: the database refuses the row and Django answers 500. ``changeform_view`` runs
    in its own transaction, so nothing of the refused save is kept. We then run the same request
    once more: the form's check now sees the committed row and answers with its usual message, the
    admin's typed values still in the form. Should the database refuse the second attempt too (a
    constraint no form checks), the admin is sent back to the page with an error message instead.
    """

    concurrent_save_message = (
        "Someone else saved a clashing change at the same moment, so nothing was saved. "
        "Check the values below and save again."
    )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        for attempt in (1, 2):
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            except IntegrityError as exc:
                logger.warning(
                    "admin save refused by the database (a concurrent change)",
                    extra={"model": self.model._meta.label, "attempt": attempt, "error": type(exc).__name__},
                )
        self.message_user(request, self.concurrent_save_message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class PortalScopedAdmin(
    ConcurrentSaveMixin, BadLookupsMixin, MoneyInputMixin, PortalScopingMixin, admin.ModelAdmin
):
    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        portal = admin_portal(request)
        if portal is not None and self.portal_field == "portal":
            initial.setdefault("portal", portal.pk)
        return initial

    def save_model(self, request, obj, form, change):
        portal = admin_portal(request)
        if portal is not None and self.portal_field == "portal":
            obj.portal = portal  # a forged POST cannot move a row to another portal
        super().save_model(request, obj, form, change)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        """Change, delete and history URLs of a row outside the staff user's portal are a 404.

        Django's default redirects with "… doesn't exist. Perhaps it was deleted?"; a 404 is the
        same answer for "never existed" and "another tenant's", so nothing leaks.
        """
        raise Http404(f"No {opts.verbose_name} with this ID.")


class PortalScopedTabularInline(MoneyInputMixin, PortalScopedInlineMixin, admin.TabularInline):
    pass


class PortalScopedStackedInline(MoneyInputMixin, PortalScopedInlineMixin, admin.StackedInline):
    pass


def scoped_path(model) -> str | None:
    """The ORM path from ``model`` to Portal, for models the admin knows how to scope."""
    if model._meta.label == "portal.Portal":
        return "pk"
    admin_class = admin.site._registry.get(model)
    if isinstance(admin_class, PortalScopedAdmin):
        return admin_class.portal_field
    if any(f.name == "portal" for f in model._meta.get_fields()):
        return "portal"
    return None
