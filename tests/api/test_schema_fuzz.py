"""Property-based fuzzing from the OpenAPI schema (schemathesis): whatever a client sends, the
answer is no 5xx and matches the schema (status, content type, body)."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from review.services.api_tokens import api_token_create

# Left out of the checks: "a schema-valid request is accepted". A schema cannot say that the file's
# bytes must be a photograph, so a schema-valid upload of random bytes is rightly refused (422).
LEFT_OUT = [positive_data_acceptance]
# Examples per operation: enough to reach each refusal (types, lengths, cursors, missing fields)
# and keep the test under a minute on two cores.
EXAMPLES = 40


@pytest.fixture
def api_schema(db):
    """The schema as the site serves it, called in-process through WSGI.

    As Django's test client does, requests must not close the test's connection (its transaction).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_every_operation_answers_as_its_schema_says(api_schema, permits):
    _, secret = api_token_create(name="fuzz", sources=["building-permits"], actor_name="test")
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 4
    strategy = st.one_of([operation.as_strategy() for operation in operations])

    @settings(
        max_examples=EXAMPLES * len(operations), deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(case=strategy, own_source=st.booleans())
    def run(case, own_source: bool) -> None:
        if own_source and "source" in (case.path_parameters or {}):
            case.path_parameters["source"] = "building-permits"  # reach past the scope check, too
        response = case.call(headers=headers)
        assert response.status_code < 500, response.text[:500]
        case.validate_response(response, headers=headers, excluded_checks=LEFT_OUT)

    run()
