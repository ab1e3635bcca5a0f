"""The license rules: a play token is bound to one play, and a key goes only to a genuine,
unexpired token for that very title. Framework-free; keys and time are handed in."""

from __future__ import annotations

from typing import Protocol

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.signed_urls import SCOPE
from reelcloud.services.license.models import KEY_PATH, IssuedToken
from reelcloud.services.license.tokens import PlayGrant, PlayTokens


class KeyStore(Protocol):
    """Content keys (`store.ContentKeys`; fakes in unit tests)."""

    async def get(self, title_id: str, key_id: str) -> bytes: ...


class LicenseService:
    def __init__(
        self,
        tokens: PlayTokens,
        keys: KeyStore,
        *,
        token_ttl_s: int,
        clock: Clock | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        """`revocations`: ended plays and signed-out sessions, whose keys are refused."""
        self.tokens = tokens
        self.keys = keys
        self.revocations = revocations or Revocations(None)
        self.token_ttl_s = token_ttl_s
        self.clock = clock or SystemClock()

    def issue_token(
        self,
        *,
        member_id: str,
        title_id: str,
        device_id: str,
        play_id: str,
        key_id: str,
        session_id: str,
        ttl_s: int = 0,
    ) -> IssuedToken:
        """A token for one play; `ttl_s` 0 (or more than allowed) gets the longest allowed."""
        if not SCOPE.match(title_id) or not member_id or not play_id or not session_id:
            raise BadRequestError("member_id, title_id, play_id and session_id are required")
        if not key_id:
            raise BadRequestError("key_id is required")
        ttl_s = min(ttl_s or self.token_ttl_s, self.token_ttl_s)
        expires = int(self.clock.now()) + ttl_s
        token = self.tokens.issue(
            PlayGrant(member_id, title_id, device_id, play_id, key_id, expires, session_id)
        )
        path = KEY_PATH.format(title_id=title_id) + f"?t={token}"
        return IssuedToken(token=token, expires_at=expires, key_path=path)

    async def key(self, title_id: str, token: str) -> tuple[bytes, PlayGrant]:
        """The title's key and the grant that opened it."""
        if not SCOPE.match(title_id):
            raise BadRequestError("not a title id")
        grant = self.tokens.verify(token, now=self.clock.now())
        if grant.title_id != title_id:
            raise ForbiddenError("this play token is for another title", code="wrong_title")
        if self.revocations.play_ended(grant.play_id):
            raise ForbiddenError("this play has ended", code="play_ended")
        if self.revocations.session_revoked(grant.session_id):
            raise ForbiddenError("this play's session was signed out", code="session_revoked")
        return await self.keys.get(title_id, grant.key_id), grant
