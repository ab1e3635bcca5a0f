"""Titles for play-path tests: a source made with ffmpeg, ingested into a running platform,
licensed where the test says, and waited on until plays can stream it from an embedded OCA."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reelcloud.client import PlatformClient
from reelcloud.encoding.pipeline import TitleMetadata, ingest
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.settings import Settings, load_settings
from tests.support.media import make_video
from tests.support.platform import Platform
from tests.support.waiting import wait_for


def licence(*countries: str) -> list[dict[str, str]]:
    today = date.today()
    start, end = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=30)).isoformat()
    return [{"country": c, "start": start, "end": end} for c in countries]


async def publish_title(
    platform: Platform,
    tmp: Path,
    name: str,
    countries: list[str],
    *,
    maturity: str = "PG-13",
    seconds: float = 4,
    size: str = "320x180",
) -> dict[str, Any]:
    source = await asyncio.to_thread(make_video, tmp / f"{name}.mp4", seconds=seconds, size=size)
    metadata = TitleMetadata(name, 2024, ["drama"], countries, maturity, "", licence(*countries))
    return await ingest(ingest_settings(platform, tmp), source, metadata)


def ingest_settings(platform: Platform, work: Path) -> Settings:
    """Settings for an ingest run in the test process against the platform's origin and NATS."""
    env = platform.env()
    return load_settings(
        data_dir=work,
        s3_url=env["REELCLOUD_S3_URL"],
        s3_access_key=env["REELCLOUD_S3_ACCESS_KEY"],
        s3_secret_key=env["REELCLOUD_S3_SECRET_KEY"],
        nats_url=env["REELCLOUD_NATS_URL"],
        content_kek=platform.secrets().content_kek,
    )


async def wait_playable(
    platform: Platform, title_id: str, *, source_address: str, email: str, timeout_s: float = 90
) -> None:
    """Until a play of the title is steered to an embedded OCA (catalog, fill and steering
    have caught up). Every trial play is stopped, freeing its stream slot."""
    async with PlatformClient(platform.gateway, source_address=source_address) as client:
        await client.sign_in(email, "reelcloud")
        seen: list[object] = [None]

        async def steered_to_the_edge() -> bool:
            play = await client.play(title_id)
            await client.stop(play)
            seen[0] = play.ocas
            return any(o["kind"] == "embedded" for o in play.ocas)

        await wait_for(
            steered_to_the_edge,
            what=lambda: (
                f"a play of {title_id} from {source_address} is steered to an "
                f"embedded OCA (last OCAs: {seen[0]})"
            ),
            timeout_s=timeout_s,
            interval_s=0.2,
            ignoring=(ReelcloudError,),
        )
