"""Security headers the whole site carries."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Scripts only from our own static files: no inline script, no eval (htmx runs with allowEval off),
# so record metadata full of <script> or hx-on payloads has nothing to run with. Inline style
# attributes stay allowed for the admin's own pages; images and fetches only from this site.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
