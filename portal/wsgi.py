import os

from django.core.wsgi import get_wsgi_application

from portal.startup import refuse_to_start_when_misconfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Web processes get the short statement timeout (DATABASE_WEB_STATEMENT_TIMEOUT); see portal.settings.
os.environ.setdefault("PORTAL_WEB_PROCESS", "true")

#: gunicorn's "App failed to load": its master stops instead of booting one failing worker after another.
APP_LOAD_ERROR = 4

with refuse_to_start_when_misconfigured(exit_status=APP_LOAD_ERROR):
    application = get_wsgi_application()

    from portal.checks import raise_on_errors  # needs the apps loaded above

    raise_on_errors()
