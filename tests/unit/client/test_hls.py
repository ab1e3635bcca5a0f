import pytest

from reelcloud.apis.play.documents import Pathway, media_playlist, multivariant
from reelcloud.client.hls import parse_media, parse_multivariant
from reelcloud.encoding.encryption import KEY_URI_PLACEHOLDER
from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.errors import BadRequestError

MANIFEST = AssetManifest.model_validate({
    "title_id": "t-1", "files": [], "fps": 30,
    "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
    "rungs": [
        {"name": "240p", "width": 426, "height": 240, "peak_bps": 500_000, "average_bps": 400_000,
         "codecs": "avc1.640015,mp4a.40.2", "hls_playlist": "hls_0.m3u8",
         "representation_id": "0", "video_kbps": 350, "playlist": "media_0.m3u8"},
        {"name": "360p", "width": 640, "height": 360, "peak_bps": 900_000, "average_bps": 800_000,
         "codecs": "avc1.64001e,mp4a.40.2", "hls_playlist": "hls_1.m3u8",
         "representation_id": "1", "video_kbps": 700, "playlist": "media_1.m3u8"},
    ],
})  # fmt: skip
PATHWAYS = [Pathway("oca-a-1", "http://127.10.255.1:8700/v/tok/t-1/"), Pathway("oca-ixp-1", "http://127.30.255.1:8700/v/tok/t-1/")]  # fmt: skip
TEMPLATE = f"""#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-0.m4s"
#EXT-X-KEY:METHOD=AES-128,URI="{KEY_URI_PLACEHOLDER}"
#EXTINF:2.000000,
enc-seg-0-00001.m4s
#EXTINF:1.500000,
enc-seg-0-00002.m4s
#EXT-X-ENDLIST
"""


def test_the_platforms_multivariant_playlist_reads_back():
    text = multivariant(MANIFEST, ["240p", "360p"], PATHWAYS, "/api/play/p/media/{pathway}/{playlist}?s=x", "/steering/v1/manifest?s=y&f=hls")  # fmt: skip
    parsed = parse_multivariant(text, "http://127.0.0.1:8080/api/play/p/master.m3u8?s=x")
    assert parsed.pathways == ["oca-a-1", "oca-ixp-1"]
    assert parsed.initial_pathway == "oca-a-1"
    assert parsed.steering_uri == "http://127.0.0.1:8080/steering/v1/manifest?s=y&f=hls"
    ladder = parsed.ladder("oca-ixp-1")
    assert [(v.height, v.bandwidth) for v in ladder] == [(240, 500_000), (360, 900_000)]
    assert ladder[0].uri == "http://127.0.0.1:8080/api/play/p/media/1/hls_0.m3u8?s=x"
    assert ladder[0].audio_uri == "http://127.0.0.1:8080/api/play/p/media/1/hls_2.m3u8?s=x"
    only_low = parse_multivariant(
        multivariant(MANIFEST, ["240p"], PATHWAYS[:1], "m/{pathway}/{playlist}", "/s"),
        "http://h/a/",
    )
    assert [v.height for v in only_low.variants] == [240]


def test_a_media_playlist_on_one_pathway_reads_back():
    text = media_playlist(TEMPLATE, PATHWAYS[0], "/api/license/key/t-1?t=token")
    parsed = parse_media(text, "http://127.0.0.1:8080/api/play/p/media/0/hls_0.m3u8?s=x")
    assert parsed.init_uri == "http://127.10.255.1:8700/v/tok/t-1/init-0.m4s"
    assert (parsed.key_method, parsed.key_uri) == ("AES-128", "http://127.0.0.1:8080/api/license/key/t-1?t=token")  # fmt: skip
    assert [(s.sequence, s.duration_s) for s in parsed.segments] == [(1, 2.0), (2, 1.5)]
    assert parsed.segments[1].uri == "http://127.10.255.1:8700/v/tok/t-1/enc-seg-0-00002.m4s"
    assert parsed.duration_s == 3.5


def test_what_is_not_a_playlist_is_refused():
    for text in ("", "<html>", "EXTM3U\n"):
        with pytest.raises(BadRequestError):
            parse_multivariant(text, "http://h/")
        with pytest.raises(BadRequestError):
            parse_media(text, "http://h/")
