"""Signed OCA URLs: steering signs, OCAs verify.

A token is one path segment, `kid~expires~network~signature`, placed before the title so that
the relative URIs inside playlists inherit it: `/v/<token>/<title_id>/<file>`. It binds

- the key id (keys rotate: every OCA knows all current keys, the newest one signs),
- an expiry (unix seconds),
- the client's network (a /24 for IPv4, a /48 for IPv6, written `127.10.0.0_24`): a URL handed
  to a client in ISP A does not work from ISP B,
- the scope, a title id: a token for one title opens no other.

The signature is HMAC-SHA256 over all four, truncated to 128 bits, base64url.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from reelcloud.platform.errors import ForbiddenError
from reelcloud.platform.signatures import signatures_match

SEPARATOR = "~"
SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CLIENT_BITS = {4: 24, 6: 48}  # by IP version


class SignatureError(ForbiddenError):
    """A token that is malformed, unknown, or tampered with."""


def client_network(address: str, *, exact: bool = False) -> str:
    """The network a token is bound to: the client's /24 (IPv4) or /48 (IPv6), or the address
    itself with `exact` (OCAs filling from each other)."""
    ip = ipaddress.ip_address(address)
    bits = ip.max_prefixlen if exact else CLIENT_BITS[ip.version]
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def _signature(secret: bytes, message: str) -> str:
    mac = hmac.new(secret, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: one scope, from one network, until `expires`."""

    scope: str
    expires: int
    network: int  # the network address as an integer
    mask: int
    version: int

    def allows(self, address: str, now: float) -> bool:
        if now >= self.expires:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return ip.version == self.version and (int(ip) & self.mask) == self.network


class UrlSigner:
    """Signs and verifies tokens with a set of keys by id; the last key given signs."""

    def __init__(self, keys: dict[str, str]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        for kid in keys:
            if not kid or SEPARATOR in kid or "/" in kid:
                raise ValueError(f"signing key id {kid!r} must be non-empty, without '~' or '/'")
        self._keys = {kid: secret.encode() for kid, secret in keys.items()}
        self.current = list(keys)[-1]

    def sign(self, scope: str, network: str, expires: int) -> str:
        if not SCOPE.match(scope):
            raise ValueError(f"scope {scope!r} is not a title id")
        net = ipaddress.ip_network(network, strict=False)
        written = f"{net.network_address}_{net.prefixlen}"
        kid = self.current
        message = SEPARATOR.join((kid, str(expires), written, scope))
        return SEPARATOR.join((kid, str(expires), written, _signature(self._keys[kid], message)))

    def verify(self, token: str, scope: str) -> Grant:
        """The grant a token carries for `scope`; SignatureError when it is not genuine. Expiry
        and network are checked by `Grant.allows`, so a verified token can be cached."""
        parts = token.split(SEPARATOR)
        # A token and a title id are ASCII: anything else (a lone surrogate would fail to
        # encode for the HMAC) is not a signed URL.
        if len(parts) != 4 or not token.isascii() or not scope.isascii():
            raise SignatureError("the URL is not signed")
        kid, expires_text, written, signature = parts
        secret = self._keys.get(kid)
        if secret is None:
            raise SignatureError("the URL is signed with an unknown key")
        message = SEPARATOR.join((kid, expires_text, written, scope))
        if not signatures_match(_signature(secret, message), signature):
            raise SignatureError("the URL's signature does not match")
        try:
            expires = int(expires_text)
            address, _, bits = written.partition("_")
            net = ipaddress.ip_network(f"{address}/{bits}")
        except ValueError as exc:
            raise SignatureError("the URL's token is malformed") from exc
        return Grant(
            scope=scope,
            expires=expires,
            network=int(net.network_address),
            mask=int(net.netmask),
            version=net.version,
        )
