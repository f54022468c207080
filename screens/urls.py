from django.urls import path

from screens import views

app_name = "screens"
urlpatterns = [
    path("", views.screen_list, name="list"),
    path("new/", views.create, name="create"),
    path("<int:pk>/identify/", views.identify, name="identify"),
    path("<int:pk>/reload/", views.reload, name="reload"),
    path("<int:pk>/link/", views.new_link, name="new_link"),
    path("<int:pk>/revoke/", views.revoke, name="revoke"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("enrol/<str:token>/", views.enrol, name="enrol"),
]
