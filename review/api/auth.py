"""Who is calling: a source system's bearer token, never a browser session.

Django's session middleware still runs under /api/, but nothing here reads `request.user`: a
signed-in person's cookie grants no API call, and a token grants no site page (the site's views
know only sessions). The rate limit and the upload size are checked here, before the body is read.
"""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from ..models import ApiToken
from ..services.api_tokens import api_rate_take, api_token_authenticate
from .problems import Problem

# Room for the multipart envelope and form fields around the file.
ENVELOPE_BYTES = 64 * 1024


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = api_token_authenticate(token)
        if found is None:
            return None
        wait = api_rate_take(found)
        if wait:
            limit = f"this token may make {found.requests_per_minute} requests a minute"
            raise Problem(429, "rate-limited", "Too many requests", limit, headers={"Retry-After": str(wait)})
        length = _content_length(request)
        if length is not None and length > found.max_upload_bytes + ENVELOPE_BYTES:
            raise Problem(
                413, "too-large", "Upload too large", f"this token may upload at most {found.max_upload_bytes:,} bytes"
            )
        return found


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def calling_token(request: HttpRequest) -> ApiToken:
    """The token the request authenticated with (TokenAuth put it there)."""
    token: Any = getattr(request, "auth", None)
    assert isinstance(token, ApiToken)
    return token
