"""Errors as RFC 9457 problem details: one shape for every refusal the API gives.

A client branches on `type` (stable, one per kind of problem) and shows `detail` to a person.
Raised from anywhere under the API as `Problem`; `review.api.site` turns it into the response.
"""

import json
from typing import Any

from django.http import HttpResponse

PROBLEM_TYPE_BASE = "/api/v1/problems/"
CONTENT_TYPE = "application/problem+json"


class Problem(Exception):  # noqa: N818 - it is the RFC's name for what the client gets
    """A refusal with its status, a stable type slug and a sentence for a person."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            **self.extra,
        }

    def replayable(self) -> dict[str, Any]:
        """What an idempotency key keeps of this refusal: `Problem(status, **replayable())` remakes it."""
        return {"kind": self.kind, "title": self.title, "detail": self.detail, **self.extra}

    def response(self, instance: str = "") -> HttpResponse:
        body = self.body() | ({"instance": instance} if instance else {})
        response = HttpResponse(json.dumps(body), status=self.status, content_type=CONTENT_TYPE)
        for name, value in self.headers.items():
            response[name] = value
        return response


def not_found(what: str) -> Problem:
    """One answer for "does not exist" and "not yours": a token cannot probe other sources."""
    return Problem(404, "not-found", "Not found", f"{what} does not exist or this token may not see it")
