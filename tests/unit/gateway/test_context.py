"""The per-request context: how a filter answers with the platform's error."""

import jsonschema
import orjson
from tests.unit.gateway.filters.contexts import context

from reelcloud.gateway.context import error_response
from reelcloud.gateway.outcome import Outcome
from reelcloud.platform.openapi import ErrorBody, document, fragment


def test_failing_answers_json_names_the_outcome_and_stops_the_chain():
    ctx = context()
    ctx.request_id = "r-7"
    assert not ctx.stopped
    ctx.fail(429, "rate_limited", "slow down", Outcome.FAILURE_LOCAL_THROTTLED_RATE)
    assert ctx.stopped
    assert ctx.response is not None
    assert ctx.response.status == 429
    assert ctx.response.headers == [(b"content-type", b"application/json")]
    assert orjson.loads(ctx.response.body) == {
        "error": {"code": "rate_limited", "message": "slow down", "request_id": "r-7"}
    }
    assert ctx.outcome is Outcome.FAILURE_LOCAL_THROTTLED_RATE
    assert ctx.error == "slow down"


def test_a_message_with_quotes_stays_valid_json():
    body = orjson.loads(error_response(400, "bad", 'say "hi"\n').body)
    assert body["error"]["message"] == 'say "hi"\n'


def test_the_gateways_own_errors_conform_to_the_published_error_body():
    # An edge 401, 429 or 503 is answered here, not by a service: /api/openapi.json promises
    # the same ErrorBody for it.
    components = document("t", "1", [fragment("t", [])])["components"]
    schema = {"$ref": f"#/components/schemas/{ErrorBody.__name__}", "components": components}
    body = orjson.loads(error_response(429, "rate_limited", "slow down", "r-7").body)
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
