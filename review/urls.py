from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.home, name="home"),
    path("sources/<slug:slug>/", views.source_detail, name="source-detail"),
    path("records/<int:pk>/", views.record_detail, name="record-detail"),
    path("assets/<int:pk>/thumbnail/", views.asset_thumbnail, name="asset-thumbnail"),
    path("imports/<int:pk>/", views.import_run, name="import-run"),
    path("scans/", views.scan_create, name="scan-create"),
    path("scans/progress/", views.scan_progress, name="scan-progress"),
]
