"""Where cache control's data comes from: the published titles' manifests on the origin, read
with the platform's `PublishedTitles` (the catalog reads them the same way), and the plays the
stream jobs count per title and rendition, read over HTTP from the `jobs` service. Its other
state (reports, plans, availability, the last counts) lives in memory and is rebuilt after a
restart (a restart asks every OCA for its full content list, and reads the counts again)."""

from __future__ import annotations

import aiohttp
from pydantic import ValidationError

from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.origin import PublishedTitles
from reelcloud.services.cachecontrol.models import PopularityCounts

__all__ = ["JOBS_SERVICE", "JobsPopularity", "PublishedTitles"]

JOBS_SERVICE = "jobs"
POPULARITY_PATH = "/jobs/popularity"


class JobsPopularity:
    """`GET /jobs/popularity?days=N` of an instance of the jobs service; every failure (none
    registered, unreachable, an error status, a body that is not the answer) an
    `UnavailableError`."""

    name = JOBS_SERVICE

    def __init__(self, client: ServiceHttpClient) -> None:
        self.client = client

    async def popularity(self, days: int) -> PopularityCounts:
        try:
            raw = await self.client.get(POPULARITY_PATH, {"days": str(days)})
        except aiohttp.ClientError as exc:  # what ServiceHttpClient does not translate itself
            raise UnavailableError(f"{JOBS_SERVICE} failed {POPULARITY_PATH}: {exc}") from exc
        try:
            return PopularityCounts.model_validate(raw)
        except ValidationError as exc:
            raise UnavailableError(f"{JOBS_SERVICE}'s popularity is not one: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
