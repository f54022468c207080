"""WebSocket routes, served by daphne through ``dashboard.asgi``."""

from django.urls import path

from dashboard.consumers import StationConsumer, WallConsumer

websocket_urlpatterns = [
    path("ws/wall/", WallConsumer.as_asgi()),
    path("ws/stations/<int:pk>/", StationConsumer.as_asgi()),
]
