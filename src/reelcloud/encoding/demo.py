"""The demo catalog: titles made with ffmpeg's test sources, so a fresh platform has something
to browse and play. Sources are cached in the data directory and seeding skips titles already
published, so only the first start pays for the encodes."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from reelcloud.encoding.pipeline import Progress, TitleMetadata, file_digest, ingest, title_id_for
from reelcloud.encoding.priority import start_background
from reelcloud.encoding.tools import ffmpeg_binary
from reelcloud.platform.assets import manifest_key
from reelcloud.platform.settings import Settings
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

log = logging.getLogger(__name__)

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)


@dataclass(frozen=True)
class DemoTitle:
    metadata: TitleMetadata
    picture: str  # an ffmpeg lavfi source expression with {size}, {rate}, {seconds}
    tone_hz: int


def _licence(
    *countries: str, start: str = "2024-01-01", end: str = "2030-12-31"
) -> list[dict[str, str]]:
    return [{"country": c, "start": start, "end": end} for c in countries]


DEMO_TITLES = (
    DemoTitle(
        TitleMetadata("Test Pattern Odyssey", 2021, ["sci-fi", "documentary"], ["US", "GB", "DE"],
                      "PG", "A voyage through the colour bars.", _licence("US", "GB", "DE"), 90),
        "smptehdbars=size={size}:rate={rate}:duration={seconds}", 440,
    ),
    DemoTitle(
        TitleMetadata("The Mandelbrot Heist", 2023, ["thriller"], ["US", "FR"], "PG-13",
                      "Infinite detail, finite time.",
                      _licence("US", "FR", start="2023-06-01"), 70),
        "mandelbrot=size={size}:rate={rate},trim=duration={seconds}", 330,
    ),
    DemoTitle(
        TitleMetadata("Life, Uh, Finds a Way", 2019, ["comedy", "family"], ["GB", "IE"], "G",
                      "Conway's cells go on a family holiday.", _licence("GB", "IE"), 40),
        "life=size={size}:rate={rate}:mold=10:ratio=0.1:death_color=#203040:life_color=#e0c060,"
        "trim=duration={seconds}", 550,
    ),
    DemoTitle(
        TitleMetadata("Gradient Descent", 2024, ["drama"], ["US", "CA"], "R",
                      "Slowly, everything changes colour.",
                      _licence("US", "CA", end="2026-12-31"), 30),
        "gradients=size={size}:rate={rate}:speed=0.02:duration={seconds}", 262,
    ),
    DemoTitle(
        TitleMetadata("Testcard Two", 2020, ["action"], ["DE", "FR", "ES"], "PG-13",
                      "Everything moves. Fast.", _licence("DE", "FR", "ES"), 55),
        "testsrc2=size={size}:rate={rate}:duration={seconds}", 660,
    ),
    DemoTitle(
        TitleMetadata("Cellular Automata Nights", 2022, ["horror", "thriller"], ["US", "JP"], "R",
                      "Rule 110 after dark.", _licence("US", "JP", start="2025-01-01"), 20),
        "cellauto=size={size}:rate={rate}:rule=110,hue=h=200,trim=duration={seconds}", 196,
    ),
)  # fmt: skip


def _font() -> Path | None:
    return next((font for font in FONT_CANDIDATES if font.exists()), None)


def _cached(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


async def make_source(demo: DemoTitle, path: Path, *, seconds: int, size: str = "640x360") -> Path:
    if await asyncio.to_thread(_cached, path):
        return path  # made by an earlier start
    picture = demo.picture.format(size=size, rate=30, seconds=seconds)
    font = _font()
    if font is not None:  # the title on the frame, when a font is at hand
        text = demo.metadata.title.replace(":", r"\:").replace("'", "")
        picture += (
            f",drawtext=fontfile={font}:text='{text}':fontcolor=white:fontsize=28"
            ":box=1:boxcolor=black@0.5:x=(w-text_w)/2:y=h-60"
        )
    tmp = path.with_suffix(".tmp.mp4")
    proc = await start_background([
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-nostdin",
        "-f", "lavfi", "-i", picture,
        "-f", "lavfi", "-i", f"sine=frequency={demo.tone_hz}:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", "-t", str(seconds), str(tmp),
    ])  # fmt: skip
    if await proc.wait() != 0:
        raise RuntimeError(f"could not make the demo source for {demo.metadata.title}")
    await asyncio.to_thread(tmp.replace, path)
    return path


async def seed_demo_catalog(
    settings: Settings, *, titles: int = 6, seconds: int = 40, progress: Progress | None = None
) -> list[str]:
    """Publish the demo titles on an empty catalog; returns the ids published by this call.

    Seeding that was interrupted resumes (sources are cached, and ingesting a published source
    is a no-op); a catalog holding someone's own titles is left alone."""
    cache = settings.data_dir / "demo"
    done_marker = cache / ".seeded"
    await asyncio.to_thread(cache.mkdir, parents=True, exist_ok=True)
    if await asyncio.to_thread(done_marker.exists):
        return []
    resuming = bool(await asyncio.to_thread(lambda: list(cache.glob("*.mp4"))))
    async with ObjectStore.from_settings(settings) as store:
        await store.ensure_bucket(ASSETS_BUCKET)
        existing = {o.key async for o in store.objects(ASSETS_BUCKET, "titles/")}
    if not resuming and any(key.endswith("/manifest.json") for key in existing):
        log.info("the catalog already has titles: no demo seeding")
        return []
    published = []
    for demo in DEMO_TITLES[:titles]:
        name = f"{_slug(demo.metadata.title)}-{seconds}s.mp4"
        source = await make_source(demo, cache / name, seconds=seconds)
        key = manifest_key(title_id_for(await asyncio.to_thread(file_digest, source)))
        if key in existing:
            continue  # published by an earlier, interrupted run
        manifest = await ingest(settings, source, demo.metadata, progress=progress)
        published.append(manifest["title_id"])
        log.info("demo title published: %s (%s)", demo.metadata.title, key)
    await asyncio.to_thread(done_marker.write_text, "seeded\n")
    return published
