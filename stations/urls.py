from django.urls import path

from stations import views

app_name = "stations"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("<int:pk>/", views.detail, name="detail"),
]
