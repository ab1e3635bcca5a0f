"""Content keys at rest: sealed under the platform's key-encryption key (KEK).

A title's AES-128 key is stored in the origin's key bucket as `nonce ‖ AES-256-GCM(key)`, with
the title and key id as associated data: the bucket (or a copy of its files) opens nothing
without the KEK, and a sealed key moved to another title's name does not open either. The
encoding pipeline seals, the license service opens; nothing else holds the KEK.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reelcloud.platform.errors import ReelcloudError

CONTENT_KEY_BYTES = 16
_NONCE_BYTES = 12
_VERSION = b"\x01"


class SealedKeyError(ReelcloudError):
    code = "sealed_key_invalid"


def _aead(kek: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"content-kek:" + kek.encode()).digest())


def _bound_to(title_id: str, key_id: str) -> bytes:
    return f"{title_id}/{key_id}".encode()


def seal(kek: str, title_id: str, key_id: str, key: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + _aead(kek).encrypt(nonce, key, _bound_to(title_id, key_id))


def is_sealed(stored: bytes) -> bool:
    """A key written before keys were sealed is the bare 16 bytes."""
    return len(stored) != CONTENT_KEY_BYTES


def unseal(kek: str, title_id: str, key_id: str, stored: bytes) -> bytes:
    if not stored.startswith(_VERSION) or len(stored) < 1 + _NONCE_BYTES + CONTENT_KEY_BYTES:
        raise SealedKeyError(f"the stored key of {title_id}/{key_id} is not a sealed key")
    nonce, sealed = stored[1 : 1 + _NONCE_BYTES], stored[1 + _NONCE_BYTES :]
    try:
        return _aead(kek).decrypt(nonce, sealed, _bound_to(title_id, key_id))
    except InvalidTag:
        raise SealedKeyError(
            f"the stored key of {title_id}/{key_id} does not open with this KEK"
        ) from None
