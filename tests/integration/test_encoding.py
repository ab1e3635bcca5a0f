"""Probe and encode real files with the wheel's ffmpeg; check the output with real parsers."""

import asyncio
from pathlib import Path

import av
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser
from tests.support.media import make_audio_only, make_video

from reelcloud.encoding.encryption import decrypt_segment, encrypt_hls
from reelcloud.encoding.ffmpeg import EncodePlan, encode
from reelcloud.encoding.ladder import ladder_for
from reelcloud.encoding.packaging import finish_hls
from reelcloud.encoding.probe import UnusableSourceError, probe


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("src") / "source.mp4", seconds=7)


def test_probe_reads_a_real_video(source):
    info = probe(source)
    assert (info.width, info.height) == (640, 360)
    assert round(info.fps) == 30
    assert 6.5 < info.duration_s < 7.5
    assert info.has_audio
    assert info.video_codec == "h264"


def test_probe_refuses_what_cannot_be_encoded(tmp_path, source):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 20])
    audio = make_audio_only(tmp_path / "audio.m4a")
    cases = [
        (text, "not a video file"),
        (empty, "empty"),
        (tmp_path / "missing.mp4", "no such file"),
        (audio, "no video stream"),
        (truncated, "cannot be decoded|not a video|no video frame|zero duration"),
        (tmp_path, "not a file"),
    ]
    for path, message in cases:
        with pytest.raises(UnusableSourceError, match=message):
            probe(path)


def test_ladder_never_upscales(source):
    info = probe(source)
    assert [r.height for r in ladder_for(info)] == [240, 360]


def keyframe_times(files: list[Path]) -> list[float]:
    data = b"".join(f.read_bytes() for f in files)
    path = files[0].parent / f"joined-{files[0].stem}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [
            round(float(packet.pts * stream.time_base), 3)
            for packet in container.demux(stream)
            if packet.pts is not None and packet.is_keyframe
        ]
    return sorted(times)


def test_one_decode_many_rungs_hls_and_dash_over_the_same_segments(source, tmp_path):
    info = probe(source)
    plan = EncodePlan(info, ladder_for(info), tmp_path / "out")
    seen = []
    asyncio.run(encode(plan, progress=seen.append))
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    figures = finish_hls(plan)
    assert figures["240p"]["average_bps"] < figures["360p"]["average_bps"]

    out = plan.out_dir
    master = m3u8.load(str(out / "master.m3u8"))
    assert len(master.playlists) == 2
    heights = sorted(p.stream_info.resolution[1] for p in master.playlists)
    assert heights == [240, 360]
    for variant in master.playlists:
        info_ = variant.stream_info
        assert info_.codecs.startswith("avc1.")
        assert "mp4a.40.2" in info_.codecs
        assert info_.frame_rate == pytest.approx(30)
        assert 0 < info_.average_bandwidth <= info_.bandwidth
    assert master.media[0].type == "AUDIO"
    assert m3u8.load(str(out / "media_0.m3u8")).playlist_type == "vod"
    mpd = MPEGDASHParser.parse(str(out / "manifest.mpd"))
    sets = mpd.periods[0].adaptation_sets
    assert sum(len(s.representations) for s in sets) == 3  # 2 video + 1 audio

    rung_keyframes = []
    for rep in range(2):
        segments = sorted(out.glob(f"seg-{rep}-*.m4s"))
        assert segments
        rung_keyframes.append(keyframe_times([out / f"init-{rep}.m4s", *segments]))
        # every segment decodes
        with av.open(str(out / f"joined-init-{rep}.mp4")) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == pytest.approx(7 * 30, abs=2)
    assert rung_keyframes[0] == rung_keyframes[1]  # aligned across rungs
    gaps = [b - a for a, b in zip(rung_keyframes[0], rung_keyframes[0][1:], strict=False)]
    assert all(abs(gap - 2.0) < 0.05 for gap in gaps)  # one keyframe per 2 s segment
    media = m3u8.load(str(out / "media_0.m3u8"))
    durations = [s.duration for s in media.segments]
    assert all(abs(d - 2.0) < 0.1 for d in durations[:-1])
    assert sum(durations) == pytest.approx(7, abs=0.2)


def test_per_title_ladder_spends_less_on_an_easy_title(tmp_path):
    from reelcloud.encoding.pertitle import per_title_ladder

    easy = probe(make_video(tmp_path / "easy.mp4", seconds=5, source="smptebars", audio=False))
    hard = probe(make_video(tmp_path / "hard.mp4", seconds=5, source="testsrc2", audio=False))
    easy_ladder, easy_points = asyncio.run(per_title_ladder(easy, tmp_path / "p-easy"))
    hard_ladder, _ = asyncio.run(per_title_ladder(hard, tmp_path / "p-hard"))
    assert all(r.height <= 360 for r in easy_ladder + hard_ladder)  # never upscaled
    assert len(easy_points) == 8  # 2 resolutions x 4 bitrates, each measured with VMAF
    assert all(0 <= point.vmaf <= 100 for point in easy_points)
    assert sum(r.video_kbps for r in easy_ladder) < sum(r.video_kbps for r in hard_ladder)


def test_hls_segments_are_encrypted_copies_that_decrypt_with_the_sequence_iv(source, tmp_path):
    info = probe(source)
    plan = EncodePlan(info, ladder_for(info), tmp_path / "out")
    asyncio.run(encode(plan))
    finish_hls(plan)
    key = bytes(range(16))
    written = encrypt_hls(plan.out_dir, key)
    assert written == {f"media_{i}.m3u8": f"hls_{i}.m3u8" for i in range(3)}
    out = plan.out_dir
    encrypted = m3u8.load(str(out / "hls_0.m3u8"))
    clear = m3u8.load(str(out / "media_0.m3u8"))
    assert encrypted.keys[-1].method == "AES-128"
    assert encrypted.segment_map[0].uri == clear.segment_map[0].uri  # init stays clear
    for number, (segment, plain) in enumerate(
        zip(encrypted.segments, clear.segments, strict=True), start=clear.media_sequence
    ):
        assert segment.uri == "enc-" + plain.uri
        data = (out / segment.uri).read_bytes()
        assert data != (out / plain.uri).read_bytes()
        assert decrypt_segment(data, key, number) == (out / plain.uri).read_bytes()
        try:  # the wrong key does not give the segment back (usually not even its padding)
            wrong = decrypt_segment(data, bytes(16), number)
        except ValueError:
            wrong = None
        assert wrong != (out / plain.uri).read_bytes()
