"""Source systems with tokens, and a client that speaks to the API as one of them."""

import pytest
from django.test import Client

from dedupe.models import Source
from review.services.api_tokens import api_token_create


class ApiClient:
    """A test client that sends a bearer token with every request."""

    def __init__(self, secret: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, data: dict | None = None, **kwargs):
        return self.client.get(path, data, headers=self.headers | kwargs.pop("headers", {}), **kwargs)

    def upload(self, source: str, data: bytes, *, key: str | None = None, name: str = "photo.jpg", **fields):
        from django.core.files.uploadedfile import SimpleUploadedFile

        headers = self.headers | ({"Idempotency-Key": key} if key else {})
        body = {"record_id": "R-1", "slot": "1", **fields, "file": SimpleUploadedFile(name, data)}
        return self.client.post(f"/api/v1/sources/{source}/images", body, headers=headers)

    def lookup(self, source: str, data: bytes):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(
            f"/api/v1/sources/{source}/lookup", {"file": SimpleUploadedFile("x.jpg", data)}, headers=self.headers
        )


@pytest.fixture
def permits(db) -> Source:
    return Source.objects.create(slug="building-permits", name="Building permits")


@pytest.fixture
def housing(db) -> Source:
    return Source.objects.create(slug="housing-cases", name="Housing cases", sensitivity="sensitive")


@pytest.fixture
def permit_tablets(permits) -> ApiClient:
    """The permit office's tablets: read and write building-permits, nothing else."""
    _, secret = api_token_create(name="permit-tablets", sources=["building-permits"], actor_name="test")
    return ApiClient(secret)


@pytest.fixture
def housing_system(housing) -> ApiClient:
    _, secret = api_token_create(name="housing-system", sources=["housing-cases"], actor_name="test")
    return ApiClient(secret)
