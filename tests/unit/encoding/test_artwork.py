from pathlib import Path

from reelcloud.encoding.artwork import artwork_size, command, grab_time_s
from reelcloud.encoding.probe import SourceInfo


def source(width, height, duration_s=40.0):
    return SourceInfo(Path("in.mp4"), duration_s, width, height, 30.0, "h264", True, 1)


def test_artwork_keeps_the_aspect_ratio_with_even_sides():
    assert artwork_size(source(1920, 1080)) == (480, 270)
    assert artwork_size(source(640, 480)) == (480, 360)
    assert artwork_size(source(1280, 534)) == (480, 200)


def test_artwork_is_never_larger_than_the_source():
    assert artwork_size(source(320, 180)) == (320, 180)
    assert artwork_size(source(321, 181)) == (320, 180)


def test_the_frame_is_grabbed_past_the_opening_but_inside_short_titles():
    assert grab_time_s(4.0) == 1.2
    assert grab_time_s(40.0) == 12.0
    assert grab_time_s(7200.0) == 60.0
    argv = command(source(640, 360, 10.0), Path("/tmp/a.jpg"))
    assert argv[argv.index("-ss") + 1] == "3.0"
    assert argv.index("-ss") < argv.index("-i")  # seek on input: no decode of the whole opening
    assert argv[-1] == "/tmp/a.jpg"
