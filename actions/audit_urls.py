"""The audit trail's pages at ``/audit/`` (namespace ``audit``); its rows are the audit app's."""

from django.urls import path

from actions import audit_views as views

app_name = "audit"
urlpatterns = [
    path("", views.attempt_list, name="list"),
    path("export.csv", views.attempt_csv, name="csv"),
]
