"""Admin scoping: a staff user belongs to one portal and sees and edits only that portal's rows.

Every ModelAdmin of tenant data inherits ``PortalScopedAdmin`` and names the path from its model
to ``Portal`` (``portal_field``). Querysets, foreign-key choices and object URLs are all filtered,
so a row of another portal is a 404, not a 403 (no existence leak). Superusers see everything.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied


def admin_portal(request):
    """The portal a staff user may manage; None means all (superuser)."""
    user = request.user
    if user.is_superuser:
        return None
    if user.portal_id is None:
        raise PermissionDenied("This staff account belongs to no portal.")
    return user.portal


class PortalScopedAdmin(admin.ModelAdmin):
    #: ORM path from this model to its Portal, e.g. "portal" or "customer__portal".
    portal_field: str = "portal"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        portal = admin_portal(request)
        if portal is None:
            return qs
        return qs.filter(**{self.portal_field: portal})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        portal = admin_portal(request)
        related = db_field.related_model
        if portal is not None:
            if related._meta.label == "portal.Portal":
                kwargs["queryset"] = related.objects.filter(pk=portal.pk)
                kwargs.setdefault("initial", portal.pk)
            else:
                path = scoped_path(related)
                if path is not None:
                    kwargs["queryset"] = related._default_manager.filter(**{path: portal})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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


def scoped_path(model) -> str | None:
    """The ORM path from ``model`` to Portal, for models the admin knows how to scope."""
    admin_class = admin.site._registry.get(model)
    if isinstance(admin_class, PortalScopedAdmin):
        return admin_class.portal_field
    if any(f.name == "portal" for f in model._meta.get_fields()):
        return "portal"
    return None
