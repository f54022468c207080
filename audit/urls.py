from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.attempt_list, name="list"),
    path("export.csv", views.attempt_csv, name="csv"),
]
