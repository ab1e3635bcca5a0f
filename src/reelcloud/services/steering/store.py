"""Where steering's data comes from: cache control's steering state (every OCA's health,
prefixes and holdings), read over HTTP. Steering keeps no data of its own; what it believes is
the last state read, in its `SteeringTable`."""

from __future__ import annotations

from pydantic import ValidationError

from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.steering_state import STEERING_STATE_PATH, SteeringState


class CacheControlState:
    def __init__(self, client: ServiceHttpClient) -> None:
        self.client = client

    async def fetch(self, known_version: str | None) -> SteeringState:
        """The state now; holdings only when they changed since `known_version`."""
        params = {} if known_version is None else {"content_version": known_version}
        raw = await self.client.get(STEERING_STATE_PATH, params)
        try:
            return SteeringState.model_validate(raw)
        except ValidationError as exc:
            raise UnavailableError(f"cache control's steering state is not one: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
