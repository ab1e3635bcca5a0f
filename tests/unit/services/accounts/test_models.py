import orjson
import pytest

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.validation import parse_body
from reelcloud.services.accounts.models import Login, NewMemberForm

SIGNUP = b'{"email": "zoe@example.test", "password": "long enough", "name": "Zoe", "country": "IE"}'


@pytest.mark.parametrize("field", ["email", "password", "name", "country"])
def test_a_nul_character_in_any_sign_up_field_is_a_bad_request_naming_it(field):
    body = SIGNUP.replace(f'"{field}": "'.encode(), f'"{field}": "\\u0000'.encode())
    with pytest.raises(BadRequestError, match=f"signup: {field}: .*NUL"):
        parse_body(NewMemberForm, body, "signup")


@pytest.mark.parametrize("field", ["email", "password"])
def test_a_nul_character_in_a_login_field_is_a_bad_request_naming_it(field):
    values = {"email": "alice@reelcloud.test", "password": "reelcloud"}
    values[field] += "\x00"
    with pytest.raises(BadRequestError, match=f"login: {field}: .*NUL"):
        parse_body(Login, orjson.dumps(values), "login")


def test_other_bad_values_keep_their_own_messages():
    with pytest.raises(BadRequestError, match="email: Input should be a valid string"):
        parse_body(Login, b'{"email": 5, "password": "x"}', "login")
    with pytest.raises(BadRequestError, match="country: String should match pattern"):
        parse_body(NewMemberForm, SIGNUP.replace(b'"IE"', b'"Ireland"'), "signup")
    assert parse_body(NewMemberForm, SIGNUP, "signup").plan == "standard"
