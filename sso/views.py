from django.http import HttpResponse


def login_start(request, key: str):
    return HttpResponse(status=501)


def callback(request):
    return HttpResponse(status=501)
