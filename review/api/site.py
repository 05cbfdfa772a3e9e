"""The API object: version 1 under /api/v1/, bearer tokens, errors as problem details, its
OpenAPI document and a docs page served from django-ninja's bundled Swagger UI (no CDN)."""

from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from .auth import TokenAuth
from .problems import CONTENT_TYPE, Problem
from .routes import router


class DeskAPI(NinjaAPI):
    """NinjaAPI whose schema says what is sent: refusals as application/problem+json."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status).startswith(("4", "5")) and "application/json" in content:
                        response["content"] = {CONTENT_TYPE: content["application/json"]}
        return schema


api = DeskAPI(
    title="Dedupe Desk API",
    version="1",
    description="The ingestion gate, record imagery status and the changes feed, for source systems.",
    auth=TokenAuth(),
    urls_namespace="api-v1",
)
api.add_router("/", router)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return exc.response(request.path)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"where": ".".join(str(part) for part in error.get("loc", ())), "message": str(error.get("msg", ""))[:300]}
        for error in exc.errors[:50]
    ]
    detail = "; ".join(f"{e['where']}: {e['message']}" for e in errors[:5])
    return Problem(422, "invalid-request", "The request's fields are not valid", detail, errors=errors).response(
        request.path
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    problem = Problem(
        401, "unauthenticated", "A valid API token is needed",
        "send Authorization: Bearer TOKEN with a live token (a browser session does not count)",
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )  # fmt: skip
    return problem.response(request.path)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return Problem(exc.status_code, "http-error", str(exc.message)[:200]).response(request.path)


@api.exception_handler(Http404)
def _missing(request: HttpRequest, exc: Http404) -> HttpResponse:
    return Problem(404, "not-found", "Not found").response(request.path)


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return Problem(400, "bad-multipart", "The multipart body cannot be read", str(exc)[:300]).response(request.path)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return Problem(413, "too-large", "Request too large", str(exc)[:300]).response(request.path)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return Problem(400, "bad-request", "The request cannot be read", str(exc)[:300]).response(request.path)


def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/: a problem, not the site's HTML 404 page."""
    return Problem(404, "not-found", "No such API call").response(request.path)
