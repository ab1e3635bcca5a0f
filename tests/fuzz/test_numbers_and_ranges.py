"""The strict integer and Range parsers against anything: they never raise, and they accept
exactly the plain forms."""

import re

from hypothesis import example, given
from hypothesis import strategies as st

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.validation import MAX_DIGITS, ascii_int, parse_byte_range, parse_int
from tests.fuzz.strategies import FUZZ, hostile_text, number_like, outcome

PLAIN = re.compile(r"[0-9]{1,18}")


@FUZZ
@given(st.one_of(number_like, hostile_text))
@example("+1")
@example("1_0")
@example(" 1")
@example("0x1")
@example("-0")
@example("\u0661")  # an Arabic-Indic one, which int() reads as 1
@example("9" * 5000)  # past int()'s 4300-digit limit: ValueError, not a number
def test_only_plain_ascii_digits_are_integers(text):
    expected = int(text) if PLAIN.fullmatch(text) else None
    assert ascii_int(text) == expected
    assert ascii_int(text.encode("utf-8", "surrogatepass")) == expected
    value, refused = outcome(lambda: parse_int(text, "n"), BadRequestError)
    assert value == expected
    assert (refused is None) == (expected is not None)


range_values = st.one_of(
    hostile_text,
    st.builds(
        lambda unit, first, last: f"{unit}={first}-{last}",
        st.sampled_from(["bytes", "BYTES", "Bytes", "items", "b\u017fytes", " bytes"]),
        st.one_of(st.just(""), number_like),
        st.one_of(st.just(""), number_like),
    ),
    st.lists(st.integers(0, 3000).map(str), min_size=2, max_size=4).map(
        lambda parts: "bytes=" + "-".join(parts[:2]) + "," + "-".join(parts[2:])
    ),
)


@FUZZ
@given(range_values, st.integers(min_value=0, max_value=2000))
@example("bytes=1_0-2_0", 100)  # int() read it as 10-20
@example("bytes=+1-2", 100)
@example("bytes=-+5", 100)
@example("b\u017fytes=1-2", 100)  # long s matches "s" under Unicode IGNORECASE
@example("bytes=-0", 0)
@example("bytes=0-", 0)
def test_a_range_is_a_plain_one_within_the_file_or_nothing(value, size):
    result = parse_byte_range(value, size)
    plain = re.fullmatch(
        rf"bytes=(?:([0-9]{{1,{MAX_DIGITS}}})-([0-9]{{0,{MAX_DIGITS}}})|-([0-9]{{1,{MAX_DIGITS}}}))",
        value.strip(" \t"),
        re.IGNORECASE | re.ASCII,
    )
    if plain is None:
        assert result is None
        return
    if isinstance(result, tuple):
        first, last = result
        assert 0 <= first <= last < size
    else:
        assert result is None or result is False
    if result is False:  # unsatisfiable: only when the range starts past the end
        first_text, _, suffix = plain.groups()
        assert size == 0 or (suffix is not None and int(suffix) == 0) or int(first_text) >= size
