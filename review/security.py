"""Request-wide security rules that no single view should have to remember.

Each middleware here enforces one promise for every URL at once, so a view added tomorrow is
covered without a line of its own: auditors change nothing.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import reverse

from dedupe.audit import role_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class AuditorReadOnlyMiddleware:
    """Refuses every unsafe request from an auditor with a 403, whatever view it names.

    Signing out is the one exception: it changes nothing on the record. Placed after
    PersonAuditMiddleware, so each refusal is still recorded as `request.refused`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            request.method not in SAFE_METHODS
            and user is not None
            and user.is_authenticated
            and role_of(user) == "auditor"
            and request.path != reverse("logout")
        ):
            return HttpResponseForbidden("Auditors read; they change nothing.", content_type="text/plain")
        return self.get_response(request)
