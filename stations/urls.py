from django.urls import path

from stations import action_views, views

app_name = "stations"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/actions/<str:action>/", action_views.act, name="act"),
]
