import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Web processes get the short statement timeout (DATABASE_WEB_STATEMENT_TIMEOUT); see portal.settings.
os.environ.setdefault("PORTAL_WEB_PROCESS", "true")
application = get_wsgi_application()

from portal.checks import raise_on_errors  # noqa: E402  (needs the apps loaded above)

raise_on_errors()
