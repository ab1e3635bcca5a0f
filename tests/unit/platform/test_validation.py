"""The strict parsers of the edge: numbers, byte ranges, text that reaches a database."""

import pytest
from pydantic import BaseModel

from reelcloud.platform.countries import ISO_3166_ALPHA_2, is_country
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.validation import (
    MAX_INT,
    Text,
    ascii_int,
    parse_body,
    parse_byte_range,
    parse_int,
    parse_query,
)

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
        ("bytes=007-010", (7, 10)),  # leading zeros are still ASCII digits (RFC 9110 1*DIGIT)
        ("Bytes=1-2", (1, 2)),  # the unit is case-insensitive
        ("bytes=1000-", False),  # starts past the end
        ("bytes=1000-2000", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file instead
        ("bytes=5-1", None),  # invalid: ignored
        ("bytes=2000-1000", None),  # invalid, not unsatisfiable
        ("bytes=abc", None),
        ("items=0-5", None),
        ("bytes=", None),
        ("bytes=-", None),
        ("bytes=--5", None),
        ("bytes=1_0-2_0", None),  # int() reads this as 10-20
        ("bytes=+1-2", None),
        ("bytes=1-+2", None),
        ("bytes=-+5", None),
        ("bytes=0x1-2", None),
        ("bytes=1-2-3", None),
        ("bytes= 1-2", None),
        ("bytes=1 -2", None),
        ("bytes=\u0661-\u0662", None),  # Arabic-Indic digits, which int() takes
        ("bytes=\uff11-\uff12", None),  # full-width digits
        ("b\u017fytes=1-2", None),  # long s, which matches "s" case-insensitively in Unicode
        ("bytes=1-" + "9" * 19, None),  # more digits than any file has bytes
        ("bytes=" + "1" * 5000 + "-", None),  # int() would refuse (or take seconds)
    ],
)
def test_single_plain_byte_ranges_only(header, expected):
    assert parse_byte_range(header, SIZE) == expected


def test_an_empty_file_satisfies_no_range():
    assert parse_byte_range("bytes=0-", 0) is False
    assert parse_byte_range("bytes=-5", 0) is False


@pytest.mark.parametrize("text", ["0", "7", "42", "007", "9" * 18])
def test_ascii_digits_are_numbers(text):
    assert ascii_int(text) == int(text)
    assert ascii_int(text.encode()) == int(text)


@pytest.mark.parametrize(
    "text",
    ["", "+1", "-1", "-0", "1_0", " 1", "1 ", "0x1", "1e3", "1.0", "\u0661", "\uff11", "\u00b2",
     "\u0967", "9" * 19, "1" * 5000, "١٢", "1\x00"],
)  # fmt: skip
def test_anything_else_is_not(text):
    assert ascii_int(text) is None
    assert ascii_int(text.encode("utf-8", "surrogatepass")) is None


def test_parse_int_names_what_was_wrong_and_bounds_it():
    assert parse_int("3", "pathway", maximum=9) == 3
    with pytest.raises(BadRequestError, match="pathway must be a whole number from 0 to 9"):
        parse_int("-1", "pathway", maximum=9)
    with pytest.raises(BadRequestError, match="pathway"):
        parse_int("10", "pathway", maximum=9)
    with pytest.raises(BadRequestError):
        parse_int("1", "limit", minimum=2)
    assert parse_int(str(MAX_INT), "offset") == MAX_INT


class Form(BaseModel):
    name: Text = ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "NUL"),
        ("a\x01b", "U\\+0001 \\(a control character\\)"),
        ("line\nbreak", "U\\+000A"),
        ("tab\t", "U\\+0009"),
        ("del\x7f", "U\\+007F"),
        ("c1\x85", "U\\+0085"),
        ("\ud800", "U\\+D800 \\(a lone surrogate\\)"),
    ],
)
def test_text_with_control_characters_or_lone_surrogates_is_refused_naming_the_field(
    value, message
):
    with pytest.raises(BadRequestError, match=f"form: name: .*{message}"):
        parse_query(Form, {"name": value}, "form")


def test_ordinary_text_in_any_script_passes():
    for value in ("Zoë", "大島", "O'Brien", "emoji 🎬", "a b"):
        assert parse_query(Form, {"name": value}, "form").name == value


def test_a_json_escape_of_a_control_character_is_refused_too():
    with pytest.raises(BadRequestError, match=r"form: name: .*U\+001B"):
        parse_body(Form, b'{"name": "\\u001b[31m"}', "form")


def test_countries_are_the_249_assigned_iso_codes():
    assert len(ISO_3166_ALPHA_2) == 249
    for code in ("US", "IE", "BR"):
        assert is_country(code), code
    for code in ("ZZ", "XK", "AA", "QM", "XA", "UK", "EU", "us", ""):
        assert not is_country(code), code
