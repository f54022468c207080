from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import LoginView
from dashboard import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="wall", query_string=True), name="home"),
    path("wall/", views.wall_page, name="wall"),
    path("health", views.health, name="health"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("stations/", include("stations.urls")),
    path("screens/", include("screens.urls")),
    path("audit/", include("audit.urls")),
    path("kpis/", include("kpis.urls")),
    path("admin/", admin.site.urls),
]
