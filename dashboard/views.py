from django.http import HttpRequest, HttpResponse


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse()
