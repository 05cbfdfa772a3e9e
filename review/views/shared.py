"""What every view module may share: the request types, the permission check, image responses."""

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, User
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.middleware import HtmxDetails

from dedupe.roles import Capability, can


class AuthenticatedHttpRequest(HttpRequest):
    """A request behind login_required: its user is a signed-in person, never AnonymousUser."""

    user: User  # narrower than HttpRequest.user (User | AnonymousUser), as healthchecks does


class HtmxHttpRequest(AuthenticatedHttpRequest):
    """A signed-in request as django-htmx's middleware leaves it (`request.htmx` is falsy without htmx)."""

    htmx: HtmxDetails


def require(user: AbstractBaseUser, capability: Capability) -> None:
    """A person without the capability is told the page does not exist (no difference shown)."""
    if not can(user, capability):
        raise Http404("Not here.")


Response = TypeVar("Response", bound=HttpResponseBase)


def private_image(response: Response) -> Response:
    """Image responses: never stored by a browser or proxy (case files), never content-sniffed."""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
