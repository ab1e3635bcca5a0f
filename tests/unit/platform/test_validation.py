import pytest

from reelcloud.openconnect.server import parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),  # the first byte
        ("bytes=999-999", (999, 999)),  # the last byte
        ("bytes=0-", (0, 999)),
        ("bytes=500-", (500, 999)),
        ("bytes=990-5000", (990, 999)),  # clamped to the end
        ("bytes=-1", (999, 999)),  # suffix: the last byte
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file: all of it
        ("bytes=1000-", False),  # starts past the end
        ("bytes=1000-2000", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file instead
        ("bytes=5-1", None),  # malformed: ignored
        ("bytes=abc", None),
        ("items=0-5", None),
        ("bytes=", None),
        ("bytes=--5", None),
    ],
)
def test_single_byte_ranges(header, expected):
    assert parse_range(header, SIZE) == expected


def test_an_empty_file_satisfies_no_range():
    assert parse_range("bytes=0-", 0) is False
    assert parse_range("bytes=-5", 0) is False
