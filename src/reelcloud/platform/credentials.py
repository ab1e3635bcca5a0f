"""Who may change the platform: the credentials services carry, and how they are checked.

HTTP basic authentication, as Spring Cloud deployments secure Eureka. Each service has its own
registry credential: the user is the service's name, the password is derived from the
registry secret (HMAC), so a registry server checks any service's password holding one
secret, and a service holds only its own password. Registry peers replicate as `PEER_USER`.
Admin routes (anything that changes behaviour) take the admin credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from reelcloud.platform.signatures import signatures_match

ADMIN_USER = "admin"
PEER_USER = "registry-peer"


def service_password(registry_secret: str, user: str) -> str:
    """The registry password of `user` (a service's name, or PEER_USER)."""
    digest = hmac.new(registry_secret.encode(), b"registry:" + user.encode(), hashlib.sha256)
    return digest.hexdigest()


def basic_authorization(user: str, password: str) -> str:
    """The `Authorization` header value for these credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic` header; None if absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def registry_caller(registry_secret: str, header: str | None) -> str | None:
    """The registry user an `Authorization` header proves to be, or None."""
    credentials = parse_basic_authorization(header)
    if credentials is None:
        return None
    user, password = credentials
    return user if signatures_match(service_password(registry_secret, user), password) else None


def is_admin(admin_password: str, header: str | None) -> bool:
    """Whether the header carries the admin credential (never true without one configured)."""
    credentials = parse_basic_authorization(header)
    if credentials is None or not admin_password:
        return False
    user, password = credentials
    return user == ADMIN_USER and signatures_match(admin_password, password)
