from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


def bare(request):
    """The floor: a request through gunicorn and Django's default middleware, doing nothing."""
    return HttpResponse("ok")


@login_required(login_url="/oidc/authenticate/")
def home(request):
    return HttpResponse(f"hello {request.user.email}")


urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("bare/", bare),
    path("home/", home),
]
