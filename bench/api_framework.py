"""Which API framework costs the gate less: django-ninja against Django REST framework, in one run.

    .venv/bin/python bench/api_framework.py [--requests 2000]

Both answer the same two calls through the site's whole middleware stack, in process (Django's
test client, so server time without the network), with the same bearer-token check
(`review.services.api_tokens.api_token_authenticate`, one indexed query): a GET naming a source,
and a multipart POST of a 60 KB file with two form fields, the gate's request shape without the
gate's work. Requests alternate between the frameworks so drift on a shared machine hits both.
Prints p50 / p95 in ms and the DRF / ninja ratio. DRF and drf-spectacular are needed only here
(bench/requirements.txt); the schema generators are not timed (they run once, not per request).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverbench import p95, setup_django  # noqa: E402


def urlconf() -> types.ModuleType:
    """The two frameworks' endpoints, mounted side by side."""
    from django.contrib.auth.models import AnonymousUser
    from django.urls import path
    from ninja import File, Form, NinjaAPI, UploadedFile
    from ninja.security import HttpBearer
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.parsers import MultiPartParser
    from rest_framework.permissions import BasePermission
    from rest_framework.renderers import JSONRenderer
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from review.services.api_tokens import api_token_authenticate

    class Bearer(HttpBearer):
        def authenticate(self, request, token):  # type: ignore[no-untyped-def]
            return api_token_authenticate(token)

    ninja = NinjaAPI(auth=Bearer(), urls_namespace="bench-ninja")

    @ninja.get("/sources/{source}/ping")
    def ping(request, source: str) -> dict:  # type: ignore[no-untyped-def]
        return {"source": source, "token": request.auth.name}

    @ninja.post("/sources/{source}/upload")
    def upload(request, source: str, file: File[UploadedFile], record_id: Form[str], slot: Form[str] = "1"):  # type: ignore[no-untyped-def]
        return {"source": source, "bytes": len(file.read()), "record_id": record_id, "slot": slot}

    class DrfBearer(BaseAuthentication):
        def authenticate(self, request):  # type: ignore[no-untyped-def]
            header = request.META.get("HTTP_AUTHORIZATION", "")
            if not header.startswith("Bearer "):
                return None
            token = api_token_authenticate(header[7:])
            if token is None:
                raise AuthenticationFailed("bad token")
            return AnonymousUser(), token

    class HasToken(BasePermission):
        def has_permission(self, request, view):  # type: ignore[no-untyped-def]
            return request.auth is not None

    class Base(APIView):
        authentication_classes = [DrfBearer]
        permission_classes = [HasToken]
        renderer_classes = [JSONRenderer]

    class Ping(Base):
        def get(self, request, source):  # type: ignore[no-untyped-def]
            return Response({"source": source, "token": request.auth.name})

    class Upload(Base):
        parser_classes = [MultiPartParser]

        def post(self, request, source):  # type: ignore[no-untyped-def]
            data = request.FILES["file"].read()
            fields = {"record_id": request.data["record_id"], "slot": request.data.get("slot", "1")}
            return Response({"source": source, "bytes": len(data), **fields})

    module = types.ModuleType("bench_api_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("ninja/", ninja.urls),
        path("drf/sources/<str:source>/ping", Ping.as_view()),
        path("drf/sources/<str:source>/upload", Upload.as_view()),
    ]
    return module


def measure(requests: int) -> dict[str, list[float]]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from dedupe.models import Source
    from review.services.api_tokens import api_token_create

    Source.objects.create(slug="building-permits", name="Building permits")
    _, secret = api_token_create(name="bench", sources=["building-permits"], actor_name="bench")
    client, headers = Client(), {"Authorization": f"Bearer {secret}"}
    payload = os.urandom(60_000)
    times: dict[str, list[float]] = {f"{f} {c}": [] for c in ("GET", "upload") for f in ("ninja", "drf")}
    for n in range(requests + 50):  # the first 50 warm both up and are not counted
        for framework in ("ninja", "drf") if n % 2 else ("drf", "ninja"):
            start = time.perf_counter()
            response = client.get(f"/{framework}/sources/building-permits/ping", headers=headers)
            elapsed_get = time.perf_counter() - start
            assert response.status_code == 200, response.content
            body = {"record_id": "P-1", "slot": "2", "file": SimpleUploadedFile("p.jpg", payload)}
            start = time.perf_counter()
            response = client.post(f"/{framework}/sources/building-permits/upload", body, headers=headers)
            elapsed_upload = time.perf_counter() - start
            assert response.status_code == 200 and response.json()["bytes"] == len(payload), response.content
            if n >= 50:
                times[f"{framework} GET"].append(elapsed_get)
                times[f"{framework} upload"].append(elapsed_upload)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir)
        from django.conf import settings
        from django.test.utils import override_settings

        sys.modules["bench_api_urls"] = urlconf()
        with override_settings(ROOT_URLCONF="bench_api_urls", ALLOWED_HOSTS=["testserver"]):
            assert settings.ROOT_URLCONF == "bench_api_urls"
            times = measure(args.requests)
    print(f"server time in ms over {args.requests} requests each (p50 / p95); ratio = DRF / ninja")
    for call in ("GET", "upload"):
        ninja, drf = times[f"ninja {call}"], times[f"drf {call}"]
        print(
            f"{call:<8} ninja {statistics.median(ninja) * 1000:6.2f} / {p95(ninja) * 1000:6.2f}"
            f"   drf {statistics.median(drf) * 1000:6.2f} / {p95(drf) * 1000:6.2f}"
            f"   ratio p50 {statistics.median(drf) / statistics.median(ninja):.2f}, p95 {p95(drf) / p95(ninja):.2f}"
        )


if __name__ == "__main__":
    main()
