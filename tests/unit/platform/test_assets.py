import hashlib

import pytest
from pydantic import ValidationError

from reelcloud.platform.assets import AssetManifest, manifest_key, parse_manifest


def cid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def manifest() -> dict:
    names = [
        "hls_0.m3u8",
        "init-0.m4s",
        "enc-seg-0-00001.m4s",
        "hls_1.m3u8",
        "init-1.m4s",
        "enc-seg-1-00001.m4s",
        "hls_2.m3u8",
        "init-2.m4s",
        "enc-seg-2-00001.m4s",  # audio
        "chunk-0-00001.m4s",
        "manifest.mpd",
        "artwork.jpg",
    ]
    rung = {"codecs": "avc1", "peak_bps": 1, "average_bps": 1, "video_kbps": 1, "width": 2}
    return {
        "title_id": "t-1",
        "metadata": {"title": "One", "genres": ["drama"]},
        "rungs": [
            {
                **rung,
                "name": "240p",
                "representation_id": "0",
                "height": 240,
                "playlist": "media_0.m3u8",
                "hls_playlist": "hls_0.m3u8",
            },
            {
                **rung,
                "name": "480p",
                "representation_id": "1",
                "height": 480,
                "playlist": "media_1.m3u8",
                "hls_playlist": "hls_1.m3u8",
            },
        ],
        "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
        "encryption": {"method": "AES-128", "key_id": "abcd", "iv": "sequence"},
        "artwork": {"name": "artwork.jpg", "width": 480, "height": 270, "at_s": 3.0},
        "files": [{"name": n, "content_id": cid(n), "size": 10} for n in names],
        "something_newer": {"kept": "out"},
    }


def test_content_ids_are_the_chosen_rungs_and_the_audio():
    parsed = parse_manifest(manifest())
    wanted = {
        "hls_0.m3u8",
        "init-0.m4s",
        "enc-seg-0-00001.m4s",
        "hls_2.m3u8",
        "init-2.m4s",
        "enc-seg-2-00001.m4s",
    }
    assert set(parsed.content_ids(["240p"])) == {cid(n) for n in wanted}


def test_playable_needs_every_rung_but_not_dash_or_artwork():
    ids = parse_manifest(manifest()).playable_content_ids()
    assert cid("enc-seg-1-00001.m4s") in ids
    assert cid("chunk-0-00001.m4s") not in ids
    assert cid("artwork.jpg") not in ids


def test_round_trips_through_json():
    parsed = parse_manifest(manifest())
    assert AssetManifest.parse(parsed.to_json()) == parsed
    assert parsed.artwork_file() is not None
    assert parsed.artwork_file().content_id == cid("artwork.jpg")


def test_refuses_a_file_without_a_content_id():
    broken = manifest()
    broken["files"][0]["content_id"] = "not-a-hash"
    with pytest.raises(ValidationError):
        parse_manifest(broken)


def test_manifest_key():
    assert manifest_key("t-1") == "titles/t-1/manifest.json"
