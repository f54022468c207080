"""The request as django-htmx's middleware leaves it: ``request.htmx`` typed for the views that
read it (django-htmx documents this class for type checkers; nothing is added at run time)."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
