from django.urls import path

from kpis import views

app_name = "kpis"
urlpatterns = [
    path("review/", views.review_page, name="review"),
    path("review/export.csv", views.export_csv, name="export_csv"),
    path("review/export.xlsx", views.export_xlsx, name="export_xlsx"),
]
