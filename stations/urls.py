from django.urls import URLPattern

app_name = "stations"
urlpatterns: list[URLPattern] = []
