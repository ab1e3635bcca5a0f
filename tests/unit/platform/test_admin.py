"""Who may use an admin route: the admin credential, nobody else, never without a password."""

import pytest

from reelcloud.platform.admin import admin_refusal
from reelcloud.platform.credentials import basic_authorization

PASSWORD = "unit-admin-password"


def test_the_admin_passes():
    assert admin_refusal(PASSWORD, basic_authorization("admin", PASSWORD)) is None


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic", "Basic !!!", "Bearer x", basic_authorization("admin", "reelcloud")],
)
def test_no_or_a_bad_credential_is_401_with_a_challenge(header):
    refusal = admin_refusal(PASSWORD, header)
    assert refusal is not None
    assert refusal.status == 401
    assert refusal.headers["WWW-Authenticate"] == 'Basic realm="reelcloud"'


@pytest.mark.parametrize("user", ["play-api", "registry-peer", "Admin"])
def test_another_users_credential_is_403(user):
    refusal = admin_refusal(PASSWORD, basic_authorization(user, PASSWORD))
    assert refusal is not None
    assert refusal.status == 403


def test_without_an_admin_password_nobody_is_admin():
    refusal = admin_refusal("", basic_authorization("admin", ""))
    assert refusal is not None
    assert refusal.status == 401
