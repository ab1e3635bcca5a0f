"""What the fuzz tests share: their settings (a fixed budget, deterministic on CI) and
strategies for hostile text.

Every input that once broke a parser is kept as an `@example` on its test, so it is tried
first on every run, whatever the random search finds."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# CI runs the same examples every time (a failure there is one anyone can replay); a
# developer's runs search afresh and remember failures in the local .hypothesis directory.
FUZZ = settings(
    max_examples=int(os.environ.get("REELCLOUD_FUZZ_EXAMPLES", "200")),
    deadline=None,  # a loaded machine is slow, not wrong
    derandomize=bool(os.environ.get("CI")),
    database=None if os.environ.get("CI") else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Every kind of character, lone surrogates and controls included (text() leaves those out).
ANY_CHAR = st.characters(categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Cs", "Co"])
hostile_text = st.text(ANY_CHAR, max_size=64)

# Look-alikes of numbers: what int() takes or chokes on and a strict parser must refuse.
number_like = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(st.sampled_from("0123456789+-_ x.eE\u0661\uff11\u00b2\u0967\t"), max_size=24),
    st.integers(min_value=0, max_value=10**18).map(lambda n: f"{n:_}"),
    st.integers(min_value=0, max_value=10**6).map(hex),
)


def outcome(call: Callable[[], Any], *refusals: type[Exception]) -> tuple[Any, Exception | None]:
    """What `call` returned, or the refusal it raised (anything else propagates: a bug)."""
    try:
        return call(), None
    except refusals as exc:
        return None, exc
