"""Test data and fake dependencies for the Play API's unit tests."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from reelcloud.platform.errors import UnavailableError
from reelcloud.rpc import steering_pb2

TITLE_ID = "t-0123456789abcdef"


def manifest_json(title_id: str = TITLE_ID) -> str:
    """An asset manifest as ingest writes it: two rungs and audio, AES-128 HLS."""
    files = []
    for index in ("0", "1", "2"):
        for name in (f"hls_{index}.m3u8", f"init-{index}.m4s", f"enc-seg-{index}-00001.m4s"):
            files.append(
                {"name": name, "content_id": hashlib.sha256(name.encode()).hexdigest(), "size": 1}
            )
    rungs = [
        {"name": name, "representation_id": index, "width": w, "height": h, "video_kbps": k,
         "codecs": "avc1.64001e,mp4a.40.2", "peak_bps": k * 1200, "average_bps": k * 1000,
         "playlist": f"media_{index}.m3u8", "hls_playlist": f"hls_{index}.m3u8"}
        for name, index, w, h, k in (("240p", "0", 426, 240, 300), ("480p", "1", 854, 480, 900))
    ]  # fmt: skip
    return orjson.dumps(
        {
            "title_id": title_id,
            "rungs": rungs,
            "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
            "encryption": {"key_id": "key-1"},
            "files": files,
        }
    ).decode()


def candidate(oca_id: str = "oca-a-1") -> steering_pb2.Candidate:
    return steering_pb2.Candidate(
        oca_id=oca_id,
        site="isp-a-1",
        site_kind="embedded",
        base_url=f"http://127.10.255.1:8700/v/tok/{TITLE_ID}/",
        rank=1,
        reason="embedded in your ISP",
    )


class FakeService:
    """A dependency answering per method (a message, or a function of the request), or down;
    every call is recorded."""

    def __init__(self, name: str, answers: dict[str, Any]) -> None:
        self.name = name
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []
        self.down = False

    def called(self, method: str) -> list[Any]:
        return [request for m, request in self.calls if m == method]

    async def call(self, method: str, request: Any) -> Any:
        self.calls.append((method, request))
        if self.down:
            raise UnavailableError(f"{self.name} is unavailable", code=f"{self.name}_unavailable")
        answer = self.answers[method]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer
