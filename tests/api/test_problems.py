"""Every bad input is a 4xx with a problem+json body (RFC 9457), never a 500, and nothing half-stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from dedupe.models import Asset, Attachment, AuditEvent, Record
from review.models import ApiToken
from tests.factories import bad_files, jpeg_bytes, photo


def assert_problem(response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (
        body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("/api/v1/problems/")
    )
    if kind:
        assert body["type"].endswith(f"/{kind}"), body
    return body


def assert_nothing_stored() -> None:
    assert not Asset.objects.exists() and not Record.objects.exists() and not Attachment.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="gate.").exists()


@pytest.mark.parametrize("name", sorted(bad_files(b"x" * 9000)))
def test_a_hostile_or_broken_file_is_refused_with_its_reason(permit_tablets, name):
    data = bad_files(jpeg_bytes(photo(60)))[name]
    body = assert_problem(permit_tablets.upload("building-permits", data, name=name), 422)
    assert body["type"].endswith(("/unreadable-image", "/invalid-request"))
    assert_nothing_stored()


def test_a_format_outside_the_allow_list_is_refused(permit_tablets):
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert_problem(permit_tablets.upload("building-permits", eps, name="x.eps"), 422, "unreadable-image")
    assert_nothing_stored()


@pytest.mark.parametrize(
    "fields",
    [
        {"record_id": ""},
        {"record_id": "x" * 201},
        {"record_id": "P-1\x00"},
        {"slot": "s" * 65},
        {"captured_at": "not a time"},
        {"captured_at": "0001-01-01T00:00:00+14:00"},
        {"captured_at": "9999-12-31T23:59:59-12:00"},
        {"address": "a\x1b[31m"},
    ],
)
def test_malformed_fields_are_refused(permit_tablets, fields):
    body = assert_problem(permit_tablets.upload("building-permits", jpeg_bytes(photo(61)), **fields), 422)
    assert body["type"].endswith("/invalid-request")
    assert_nothing_stored()


def test_a_missing_file_is_refused(permit_tablets):
    response = permit_tablets.client.post(
        "/api/v1/sources/building-permits/images", {"record_id": "P-1"}, headers=permit_tablets.headers
    )
    assert_problem(response, 422, "invalid-request")
    assert_nothing_stored()


def test_an_upload_over_the_tokens_size_is_refused(permit_tablets):
    ApiToken.objects.update(max_upload_bytes=10_000)
    assert_problem(permit_tablets.upload("building-permits", jpeg_bytes(photo(62)) + b"\0" * 80_000), 413, "too-large")
    assert_nothing_stored()


def test_the_rate_limit_answers_429_with_retry_after(permit_tablets):
    ApiToken.objects.update(requests_per_minute=3)
    codes = [permit_tablets.get("/api/v1/sources/building-permits/changes").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = permit_tablets.get("/api/v1/sources/building-permits/changes")
    assert_problem(response, 429, "rate-limited")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_an_unknown_path_or_a_broken_body_is_a_problem_too(permit_tablets):
    assert_problem(permit_tablets.get("/api/v1/nothing/here"), 404)
    assert_problem(permit_tablets.get("/api/v2/sources"), 404)
    broken = permit_tablets.client.post(
        "/api/v1/sources/building-permits/images",
        data=b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
        content_type="multipart/form-data; boundary=",
        headers=permit_tablets.headers,
    )
    assert 400 <= broken.status_code < 500 and broken["Content-Type"] == "application/problem+json"
    assert_nothing_stored()


def test_the_docs_page_loads_nothing_from_elsewhere():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle" in html and "cdn" not in html.lower() and "https://" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in html.replace(" ", "")  # no inline script: the CSP would block it


def test_the_schema_is_openapi_3_and_names_every_call():
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/sources/{source}/images", "/api/v1/sources/{source}/lookup",
        "/api/v1/sources/{source}/records/{record_id}", "/api/v1/sources/{source}/changes",
    } <= set(schema["paths"])  # fmt: skip


def test_an_upload_file_field_with_a_path_name_stores_no_path(permit_tablets):
    data = jpeg_bytes(photo(63))
    response = permit_tablets.client.post(
        "/api/v1/sources/building-permits/images",
        {"record_id": "P-1", "file": SimpleUploadedFile("../../etc/passwd.html", data)},
        headers=permit_tablets.headers,
    )
    assert response.status_code == 201
    name = Asset.objects.get().storage_name
    assert ".." not in name and "passwd" not in name and not name.endswith(".html")
