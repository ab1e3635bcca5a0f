"""Test data for cache control: manifests with renditions, a fake origin, OCA reports."""

import hashlib

from reelcloud.platform.assets import AssetManifest
from reelcloud.services.cachecontrol.models import Report

DELAY_S = 1.0


def cid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rendition_manifest(title_id: str) -> AssetManifest:
    """Two rungs and audio (what a play needs), plus DASH and artwork files (what it does not)."""
    rung = {"codecs": "avc1", "peak_bps": 1, "average_bps": 1, "video_kbps": 1, "width": 2}
    names = [
        "hls_0.m3u8",
        "init-0.m4s",
        "enc-seg-0-00001.m4s",
        "hls_1.m3u8",
        "init-1.m4s",
        "enc-seg-1-00001.m4s",
        "hls_2.m3u8",
        "init-2.m4s",
        "enc-seg-2-00001.m4s",
        "chunk-0-00001.m4s",
        "manifest.mpd",
        "artwork.jpg",
    ]
    return AssetManifest.model_validate(
        {
            "title_id": title_id,
            "rungs": [
                {
                    **rung,
                    "name": f"{h}p",
                    "representation_id": str(i),
                    "height": h,
                    "playlist": f"media_{i}.m3u8",
                    "hls_playlist": f"hls_{i}.m3u8",
                }
                for i, h in enumerate((240, 480))
            ],
            "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
            "files": [{"name": n, "content_id": cid(title_id + n), "size": 10} for n in names],
        }
    )


class FakeOrigin:
    def __init__(self, *manifests: AssetManifest) -> None:
        self.manifests = {m.title_id: m for m in manifests}

    async def published(self) -> list[str]:
        return list(self.manifests)

    async def manifest(self, title_id: str) -> AssetManifest:
        return self.manifests[title_id]


def report(seq, *, full=None, added=(), removed=(), draining=False, error_rate=0.0) -> Report:
    health = {
        "active_connections": 0,
        "bytes_per_s": 0,
        "requests_per_s": 0,
        "error_rate": error_rate,
        "disk_used": 0,
        "disk_free": 0,
        "draining": draining,
    }
    return Report.model_validate(
        {
            "seq": seq,
            "health": health,
            "prefixes": ["127.10.0.0/16"],
            "full": full,
            "added": list(added),
            "removed": list(removed),
        }
    )
