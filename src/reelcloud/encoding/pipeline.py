"""Ingest end to end: probe → upload the source → encode → content ids and the asset manifest
→ upload → publish → event.

A title becomes visible only when its manifest is written, last; anything that fails before
that removes the title's files again, so no half-published title is ever seen. Ingesting the
same source again (after a crash, say) finds the same title id and completes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reelcloud.encoding.artwork import grab_artwork
from reelcloud.encoding.encryption import encrypt_hls
from reelcloud.encoding.ffmpeg import EncodePlan, encode
from reelcloud.encoding.ladder import AUDIO_KBPS
from reelcloud.encoding.packaging import finish_hls
from reelcloud.encoding.pertitle import per_title_ladder
from reelcloud.encoding.probe import SourceInfo, probe
from reelcloud.platform import assets
from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.content_keys import seal
from reelcloud.platform.events import EventProducer
from reelcloud.platform.events.titles import TitleEncoded
from reelcloud.platform.settings import Settings
from reelcloud.platform.storage import ASSETS_BUCKET, KEYS_BUCKET, SOURCES_BUCKET, ObjectStore

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".json": "application/json",
    ".jpg": "image/jpeg",
}
Progress = Callable[[str, float], None]  # stage, fraction done


@dataclass(frozen=True)
class TitleMetadata:
    """What the person ingesting says of the title (`platform.assets.TitleMetadata` in the
    manifest; this one takes its fields in order, as callers write them)."""

    title: str
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    maturity: str = "PG"
    description: str = ""
    licenses: list[dict[str, str]] = field(default_factory=list)  # {country, start, end}
    # Expected demand before any plays are counted: fill places popular titles at the edge.
    popularity: float = 0.0


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def title_id_for(source_digest: str) -> str:
    """A title's id comes from its source's hash: the same file is always the same title."""
    return "t-" + source_digest[:16]


async def ingest(
    settings: Settings,
    path: Path,
    metadata: TitleMetadata,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    report = progress or (lambda stage, done: None)
    kek = settings.required_secret("content_kek")  # before minutes of encoding, not after
    info = probe(path)  # refuses unusable sources before anything is stored
    source_id = file_digest(path)
    title_id = title_id_for(source_id)
    async with ObjectStore.from_settings(settings) as store:
        for bucket in (SOURCES_BUCKET, ASSETS_BUCKET, KEYS_BUCKET):
            await store.ensure_bucket(bucket)
        existing = await store.head(ASSETS_BUCKET, manifest_key(title_id))
        if existing is not None:
            log.info("%s is already published", title_id)
            published = await store.get(ASSETS_BUCKET, manifest_key(title_id))
            return AssetManifest.parse(published).model_dump(mode="json")
        prefix = f"titles/{title_id}/"
        await store.delete_prefix(ASSETS_BUCKET, prefix)  # leftovers of an interrupted run
        work = settings.data_dir / "encoding" / title_id
        shutil.rmtree(work, ignore_errors=True)
        try:
            report("upload source", 0.0)
            await store.put_file(
                SOURCES_BUCKET, f"{title_id}/{path.name}", path, "application/octet-stream"
            )
            report("upload source", 1.0)
            rungs, points = await per_title_ladder(
                info, work / "probes", progress=lambda done: report("choose ladder", done)
            )
            plan = EncodePlan(info, rungs, work / "package")
            await encode(plan, progress=lambda done: report("encode", done))
            artwork = await grab_artwork(info, plan.out_dir)
            figures = finish_hls(plan)
            key, key_id = secrets.token_bytes(16), secrets.token_hex(8)
            report("encrypt", 0.0)
            encrypted = await asyncio.to_thread(encrypt_hls, plan.out_dir, key)
            report("encrypt", 1.0)
            probes = [
                {"height": p.rung.height, "video_kbps": p.rung.video_kbps, "vmaf": round(p.vmaf, 2)}
                for p in points
            ]
            manifest = build_manifest(
                title_id, source_id, info, metadata, plan, figures, encrypted, key_id,
                artwork, probes,
            )  # fmt: skip
            files = manifest.files
            for index, entry in enumerate(files):
                local = plan.out_dir / entry.name
                content_type = CONTENT_TYPES.get(local.suffix, "application/octet-stream")
                await store.put_file(ASSETS_BUCKET, prefix + entry.name, local, content_type)
                report("upload", (index + 1) / len(files))
            sealed = seal(kek, title_id, key_id, key)
            await store.put(KEYS_BUCKET, f"{title_id}/{key_id}.key", sealed)
            # Published: from here on the title exists.
            await store.put(
                ASSETS_BUCKET, manifest_key(title_id), manifest.to_json(), "application/json"
            )
        except BaseException:
            await store.delete_prefix(ASSETS_BUCKET, prefix)
            await store.delete(SOURCES_BUCKET, f"{title_id}/{path.name}")
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    await announce(settings, manifest)
    return manifest.model_dump(mode="json")


def build_manifest(
    title_id: str,
    source_id: str,
    info: SourceInfo,
    metadata: TitleMetadata,
    plan: EncodePlan,
    figures: dict[str, dict[str, Any]],
    encrypted: dict[str, str],
    key_id: str,
    artwork: dict[str, Any] | None = None,
    ladder_probes: list[dict[str, float]] | None = None,
) -> AssetManifest:
    """What the playback side reads: renditions, codecs, and every file with its content id
    (a hash: OCAs, steering and fill name files by it)."""
    files = [
        assets.AssetFile(name=local.name, content_id=file_digest(local), size=local.stat().st_size)
        for local in sorted(plan.out_dir.iterdir())
        if local.is_file()
    ]
    rungs = []
    for index, rung in enumerate(plan.rungs):
        measured = figures[rung.name]
        rungs.append(
            assets.Rung(
                name=rung.name,
                representation_id=str(index),
                width=round(info.width * rung.height / info.height / 2) * 2,
                height=rung.height,
                video_kbps=rung.video_kbps,
                codecs=measured["codecs"],
                peak_bps=measured["peak_bps"],
                average_bps=measured["average_bps"],
                playlist=f"media_{index}.m3u8",
                hls_playlist=encrypted[f"media_{index}.m3u8"],
            )
        )
    audio_playlist = f"media_{len(plan.rungs)}.m3u8"
    audio = (
        assets.AudioTrack(playlist=audio_playlist, hls_playlist=encrypted[audio_playlist])
        if audio_playlist in encrypted
        else None
    )
    return AssetManifest(
        title_id=title_id,
        source_id=source_id,
        metadata=assets.TitleMetadata(**asdict(metadata)),
        duration_s=round(info.duration_s, 3),
        fps=info.fps,
        segment_s=plan.segment_s,
        audio_kbps=AUDIO_KBPS if info.has_audio else 0,
        audio=audio,
        rungs=rungs,
        hls="master.m3u8",
        dash="manifest.mpd",
        # HLS segments: AES-128, IV = media sequence number (encoding/encryption.py).
        encryption=assets.Encryption(method="AES-128", key_id=key_id, iv="sequence"),
        files=files,
        encoded_at=time.time(),
        artwork=None if artwork is None else assets.Artwork.model_validate(artwork),
        ladder_probes=ladder_probes or [],
    )


async def announce(settings: Settings, manifest: AssetManifest) -> None:
    """Publish `title.encoded`; without NATS configured, say so in the log and go on."""
    if not settings.nats_url:
        log.warning("no NATS configured: title.encoded not published for %s", manifest.title_id)
        return
    producer = EventProducer(
        settings.nats_url,
        producer_id=f"ingest-{os.getpid()}",
        spool_dir=settings.data_dir / "spool" / "ingest",
    )
    await producer.start()
    producer.publish(
        TitleEncoded(
            title_id=manifest.title_id,
            title=manifest.metadata.title,
            manifest_key=manifest_key(manifest.title_id),
            rungs=manifest.rung_names(),
            duration_s=manifest.duration_s,
        )
    )
    await producer.aclose(drain_timeout_s=5)
