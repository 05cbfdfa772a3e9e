from django.urls import path

from .views import archive, audit, desk, groups, home, images, storage

app_name = "review"

urlpatterns = [
    path("", home.home, name="home"),
    path("sources/<slug:slug>/", archive.source_detail, name="source-detail"),
    path("records/", archive.record_search, name="record-search"),
    path("records/<int:pk>/", archive.record_detail, name="record-detail"),
    path("attachments/<int:pk>/restore/", archive.attachment_restore_view, name="attachment-restore"),
    path("missing/", archive.missing_imagery, name="missing-imagery"),
    path("assets/<int:pk>/", archive.asset_detail, name="asset-detail"),
    path("assets/<int:pk>/original/", images.asset_original, name="asset-original"),
    path("queue/", desk.queue, name="queue"),
    path("queue/assign/", desk.queue_assign, name="queue-assign"),
    path("candidates/<int:pk>/", desk.candidate_review, name="candidate"),
    path("candidates/<int:pk>/decide/", desk.candidate_decide, name="candidate-decide"),
    path("candidates/<int:pk>/difference.png", images.candidate_difference, name="candidate-difference"),
    path("candidates/<int:pk>/aligned.png", images.candidate_aligned, name="candidate-aligned"),
    path("decisions/<int:pk>/undo/", desk.decision_undo, name="decision-undo"),
    path("groups/<int:pk>/", groups.group_review, name="group"),
    path("groups/<int:pk>/difference/<int:a>-<int:b>.png", images.group_difference, name="group-difference"),
    path("groups/<int:pk>/decide/", groups.group_decide, name="group-decide"),
    path("proposals/", groups.proposals, name="proposals"),
    path("proposals/<int:pk>/", groups.proposal_answer, name="proposal-answer"),
    path("reversals/<int:pk>/", groups.reversal_answer, name="reversal-answer"),
    path("storage/", storage.storage, name="storage"),
    path("merge-map/", archive.merge_map, name="merge-map"),
    path("exact-groups/", groups.exact_groups, name="exact-groups"),
    path("assets/<int:pk>/thumbnail/", images.asset_thumbnail, name="asset-thumbnail"),
    path("imports/<int:pk>/", home.import_run, name="import-run"),
    path("scans/", home.scan_create, name="scan-create"),
    path("scans/progress/", home.scan_progress, name="scan-progress"),
    path("audit/", audit.audit_log, name="audit-log"),
    path("audit/events/<int:pk>/", audit.audit_event, name="audit-event"),
    path("audit/timeline/record/<int:pk>/", audit.audit_timeline_record, name="audit-timeline-record"),
    path("audit/timeline/asset/<int:pk>/", audit.audit_timeline_asset, name="audit-timeline-asset"),
    path("audit/timeline/user/<int:actor_id>/", audit.audit_timeline_user, name="audit-timeline-user"),
    path("audit/export.csv", audit.audit_export, {"fmt": "csv"}, name="audit-export-csv"),
    path("audit/export.json", audit.audit_export, {"fmt": "json"}, name="audit-export-json"),
    path("audit/figures/", audit.audit_figures, name="audit-figures"),
]
