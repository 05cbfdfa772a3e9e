"""Request-wide security rules that no single view should have to remember.

Each middleware here enforces one promise for every URL at once, so a view added tomorrow is
covered without a line of its own: auditors change nothing, nothing the application renders is
kept by a browser or proxy, and sessions end when idle and after a working day.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import reverse

from dedupe.roles import role_of

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


# Features no page of ours uses: a script injected despite the CSP still cannot reach them.
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "camera=()",
        "display-capture=()",
        "geolocation=()",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "payment=()",
        "usb=()",
        "fullscreen=(self)",
    ]
)


class PrivateResponseMiddleware:
    """Pages, case images and exports are never stored: a shared computer's browser cache or a proxy
    would otherwise keep case-file photographs after sign-out. Static files never get here
    (whitenoise answers them further out), so they stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response["Cache-Control"] = "private, no-store"
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


# Session keys: when the person signed in and when they were last seen (epoch seconds).
SESSION_STARTED = "_dedupe_started"
SESSION_SEEN = "_dedupe_seen"
# "Last seen" is written at most once a minute, so a busy reviewer does not save the session on
# every keystroke; the idle limit is exact to within this.
SEEN_RESOLUTION_SECONDS = 60


class SessionLifetimeMiddleware:
    """Ends a session idle for DEDUPE_SESSION_IDLE_SECONDS, and every session
    DEDUPE_SESSION_MAX_SECONDS after sign-in however busy; the person signs in again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            session, now = request.session, int(time.time())
            started = session.setdefault(SESSION_STARTED, now)
            seen = session.get(SESSION_SEEN, now)
            if now - seen > settings.DEDUPE_SESSION_IDLE_SECONDS or now - started > settings.DEDUPE_SESSION_MAX_SECONDS:
                logout(request)
                return session_ended(request)
            if SESSION_SEEN not in session or now - seen >= SEEN_RESOLUTION_SECONDS:
                session[SESSION_SEEN] = now
        return self.get_response(request)


def session_ended(request: HttpRequest) -> HttpResponse:
    """Back to the sign-in page; an htmx swap is told to load it whole rather than inline."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse(settings.LOGIN_URL)
        return response
    return redirect_to_login(request.get_full_path())
