"""The actions' address under the station they act on: ``/stations/<pk>/actions/<action>/``,
named ``stations:act`` (the project's URLs put these in the stations' namespace, so that
``stations`` knows nothing of the actions)."""

from django.urls import path

from actions import views

urlpatterns = [
    path("<int:pk>/actions/<str:action>/", views.act, name="act"),
]
