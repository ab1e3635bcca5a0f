"""The license service's data: the key route's query, and a token as it is handed out. (The
key itself is answered as bytes; errors are the platform's `{"error": {"code", "message"}}`.)"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

KEY_PATH = "/api/license/key/{title_id}"


class KeyQuery(BaseModel):
    """GET /api/license/key/{title_id}?t=<play token>."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    t: str = ""  # checked by the service (a malformed token is a 403, like a forged one)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: int  # seconds since the epoch
    key_path: str  # where the player fetches the key with it, token included
