"""Sign-up, login and catalog queries with hostile text: whatever a client sends is a model
or a 400 naming the field, never text PostgreSQL would refuse (a 500)."""

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from reelcloud.platform.countries import ISO_3166_ALPHA_2
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.validation import parse_body, parse_query
from reelcloud.services.accounts.models import Login, NewMemberForm
from reelcloud.services.catalog.models import BrowseQuery
from tests.fuzz.strategies import FUZZ, hostile_text, outcome

UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
SIGNUP = {"email": "zoe@example.test", "password": "long enough", "name": "Zoe", "country": "IE"}


def storable(value: str) -> bool:
    return UNSTORABLE.search(value) is None


@FUZZ
@given(st.sampled_from(sorted(SIGNUP)), hostile_text)
@example("name", "a\x00b")
@example("country", "ZZ")
@example("country", "\u0130E")  # dotted capital I: upper() and lower() disagree
@example("email", "a@b@c.de")
def test_a_sign_up_is_storable_or_a_400_naming_the_field(field, value):
    # json escapes what it cannot write ("\\ud800"), as a hostile client would send it.
    body = json.dumps(SIGNUP | {field: value}).encode()
    form, refused = outcome(lambda: parse_body(NewMemberForm, body, "signup"), BadRequestError)
    if refused is not None:
        # The field is named, unless the JSON itself is refused (a lone surrogate escape).
        assert refused.message.startswith((f"signup: {field}: ", "signup: body: "))
        return
    for text in (form.email, form.password, form.name, form.country):
        assert storable(text)
    assert form.country in ISO_3166_ALPHA_2
    assert form.email.count("@") == 1


@FUZZ
@given(hostile_text, hostile_text)
def test_a_login_is_storable_or_a_400(email, password):
    body = json.dumps({"email": email, "password": password}).encode()
    form, refused = outcome(lambda: parse_body(Login, body, "login"), BadRequestError)
    if refused is None:
        assert storable(form.email)
        assert storable(form.password)


@FUZZ
@given(st.dictionaries(st.sampled_from(["q", "country", "genre", "other"]), hostile_text))
@example({"genre": "a\x00b"})
@example({"q": "\x00"})
@example({"country": "zz"})
def test_a_catalog_query_is_storable_or_a_400(query):
    parsed, refused = outcome(lambda: parse_query(BrowseQuery, query, "query"), BadRequestError)
    if refused is not None:
        assert refused.message.startswith("query: ")
        return
    for text in (parsed.q, parsed.country, parsed.genre):
        assert storable(text)
    assert parsed.country == "" or parsed.country in ISO_3166_ALPHA_2
