"""WebSocket routes, served by daphne through ``dashboard.asgi``."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
