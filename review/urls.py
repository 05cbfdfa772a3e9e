from django.urls import path

from . import archive_views, audit_views, desk, desk_groups, views

app_name = "review"

urlpatterns = [
    path("", views.home, name="home"),
    path("sources/<slug:slug>/", views.source_detail, name="source-detail"),
    path("records/", archive_views.record_search, name="record-search"),
    path("records/<int:pk>/", views.record_detail, name="record-detail"),
    path("attachments/<int:pk>/restore/", archive_views.attachment_restore_view, name="attachment-restore"),
    path("assets/<int:pk>/", archive_views.asset_detail, name="asset-detail"),
    path("assets/<int:pk>/original/", desk.asset_original, name="asset-original"),
    path("queue/", desk.queue, name="queue"),
    path("queue/assign/", desk.queue_assign, name="queue-assign"),
    path("candidates/<int:pk>/", desk.candidate_review, name="candidate"),
    path("candidates/<int:pk>/decide/", desk.candidate_decide, name="candidate-decide"),
    path("candidates/<int:pk>/difference.png", desk.candidate_difference, name="candidate-difference"),
    path("decisions/<int:pk>/undo/", desk.decision_undo, name="decision-undo"),
    path("groups/<int:pk>/", desk_groups.group_review, name="group"),
    path("groups/<int:pk>/decide/", desk_groups.group_decide, name="group-decide"),
    path("proposals/", desk_groups.proposals, name="proposals"),
    path("proposals/<int:pk>/", desk_groups.proposal_answer, name="proposal-answer"),
    path("storage/", archive_views.storage, name="storage"),
    path("merge-map/", archive_views.merge_map, name="merge-map"),
    path("exact-groups/", archive_views.exact_groups, name="exact-groups"),
    path("assets/<int:pk>/thumbnail/", views.asset_thumbnail, name="asset-thumbnail"),
    path("imports/<int:pk>/", views.import_run, name="import-run"),
    path("scans/", views.scan_create, name="scan-create"),
    path("scans/progress/", views.scan_progress, name="scan-progress"),
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("audit/events/<int:pk>/", audit_views.audit_event, name="audit-event"),
    path("audit/timeline/record/<int:pk>/", audit_views.audit_timeline_record, name="audit-timeline-record"),
    path("audit/timeline/asset/<int:pk>/", audit_views.audit_timeline_asset, name="audit-timeline-asset"),
    path("audit/timeline/user/<int:actor_id>/", audit_views.audit_timeline_user, name="audit-timeline-user"),
    path("audit/export.csv", audit_views.audit_export, {"fmt": "csv"}, name="audit-export-csv"),
    path("audit/export.json", audit_views.audit_export, {"fmt": "json"}, name="audit-export-json"),
    path("audit/figures/", audit_views.audit_figures, name="audit-figures"),
]
