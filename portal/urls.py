from django.contrib import admin
from django.urls import include, path

from . import devmail

admin.site.site_header = "Billing portal administration"
admin.site.site_title = "Billing portal admin"
admin.site.empty_value_display = "—"  # the same dash our own admin tables use for an empty cell

urlpatterns = [
    path("admin/", admin.site.urls),
    # Development only: each view answers 404 unless DEBUG (see portal.devmail).
    path("dev/mailbox/", devmail.mailbox_list, name="devmail_list"),
    path("dev/mailbox/<slug:message_id>/", devmail.mailbox_detail, name="devmail_detail"),
    path("", include("accounts.urls")),
    path("", include("sso.urls")),
    path("", include("halo.urls")),
    path("", include("payments.urls")),
    path("", include(("portal.site_urls", "portal"))),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
