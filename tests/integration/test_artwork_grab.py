"""The artwork frame grab with the wheel's ffmpeg, checked by decoding the JPEG with PyAV."""

import asyncio
import dataclasses
import statistics

import av
import pytest
from tests.support.media import make_video

from reelcloud.encoding.artwork import ArtworkError, grab_artwork
from reelcloud.encoding.probe import probe


def test_a_frame_of_the_title_becomes_a_small_jpeg(tmp_path):
    info = probe(make_video(tmp_path / "in.mp4", seconds=4, size="640x360"))
    described = asyncio.run(grab_artwork(info, tmp_path))
    jpeg = tmp_path / "artwork.jpg"
    assert described == {"name": "artwork.jpg", "width": 480, "height": 270, "at_s": 1.2}
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff"
    assert jpeg.stat().st_size < 60_000
    with av.open(str(jpeg)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (480, 270)
    # testsrc2 is colourful: a real picture, not a black frame.
    luma = bytes(frame.reformat(format="gray").planes[0])
    assert statistics.mean(luma) > 40
    assert statistics.pstdev(luma) > 20


def test_a_source_that_cannot_be_decoded_is_an_artwork_error(tmp_path):
    info = probe(make_video(tmp_path / "in.mp4", seconds=2, size="320x180"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(ArtworkError):
        asyncio.run(grab_artwork(dataclasses.replace(info, path=broken), tmp_path))
