"""The station pages' URLs, under /stations/ and the "stations" namespace."""

from django.urls import path

from dashboard import station_views as views

app_name = "stations"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/actions/<str:action>/", views.act, name="act"),
]
