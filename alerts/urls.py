from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.rule_list, name="rules"),
    path("new/", views.rule_create, name="rule_new"),
    path("<int:pk>/", views.rule_edit, name="rule"),
    path("<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("<int:pk>/test/", views.rule_test, name="rule_test"),
    path("<int:pk>/history/", views.rule_history, name="rule_history"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/new/", views.webhook_create, name="webhook_new"),
    path("webhooks/<int:pk>/", views.webhook_edit, name="webhook"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
]
