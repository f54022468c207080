from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import LoginView, preferences
from dashboard import admin_views, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="wall", query_string=True), name="home"),
    path("wall/", views.wall_page, name="wall"),
    path("health", views.health, name="health"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/", preferences, name="preferences"),
    path("stations/", include("dashboard.station_urls")),
    path("screens/", include("screens.urls")),
    path("audit/", include("actions.audit_urls")),
    path("kpis/", include("kpis.urls")),
    path("alerts/reports/", include("alerts.report_urls")),
    path("alerts/", include("alerts.urls")),
    path(
        "admin/cwork-connection/",
        admin.site.admin_view(admin_views.cwork_connection),
        name="cwork-connection",
    ),
    path("admin/", admin.site.urls),
]

handler403 = "dashboard.errors.forbidden"
handler404 = "dashboard.errors.not_found"
handler500 = "dashboard.errors.server_error"
