from django.urls import path

from alerts import report_views

app_name = "reports"
urlpatterns = [
    path("", report_views.subscriptions, name="subscriptions"),
    path("everyone/", report_views.everyone, name="everyone"),
    path("sent/", report_views.sent, name="sent"),
]
