"""A heartbeat's body is bounded: whatever passes validation makes a small event, and anything
oversized, hostile or unknown is a 400 naming the field."""

import orjson
import pytest

from reelcloud.apis.play.api import OPERATIONS
from reelcloud.apis.play.models import MAX_COUNT, MAX_PLAY_MS, MAX_PLAY_S, Heartbeat, QoE
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.events.play import PlayHeartbeat
from reelcloud.platform.openapi import fragment
from reelcloud.platform.validation import parse_body


def beat(**qoe):
    return orjson.dumps({"position_s": 12.5, "qoe": qoe})


def test_what_both_clients_report_is_accepted():
    python_client = {  # client.player.QoE.summary()
        "startup_ms": 310.4, "rebuffers": 1, "rebuffer_s": 0.25, "rebuffer_ratio": 0.01,
        "mean_bitrate_kbps": 2100.5, "bitrate_switches": 2, "oca_changes": 0, "errors": 0,
        "steering_updates": 3, "played_s": 30.0,
    }  # fmt: skip
    web_client = {  # web/app/player/qoe.js report()
        "startup_ms": None, "rebuffers": 0, "rebuffer_ms": 0, "longest_stall_ms": 0,
        "bitrate_switches": 0, "bitrate_kbps": 0, "height": 720, "pathway": "oca-a-1",
        "pathway_changes": 1, "pathways_seen": "oca-a-2>oca-a-1", "errors": 1,
        "fatal_errors": 0, "last_error": "fragLoadError", "watchdog_restarts": 0,
        "dropped_frames": 4,
    }  # fmt: skip
    for reported in (python_client, web_client):
        parsed = parse_body(Heartbeat, beat(**reported), "heartbeat")
        # The event carries what was reported, and nothing it left out.
        assert parsed.qoe.reported() == {k: v for k, v in reported.items() if v is not None}
    assert parse_body(Heartbeat, b'{"position_s": 0}', "heartbeat").qoe == QoE()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (beat(last_error="x" * (1024 * 1024)), "qoe.last_error"),  # the 1 MiB heartbeat
        (beat(pathway="p" * 65), "qoe.pathway"),
        (beat(pathways_seen=">" * 257), "qoe.pathways_seen"),
        (beat(note="x"), "qoe.note"),  # unknown keys are refused, not dropped
        (beat(rebuffers=-1), "qoe.rebuffers"),
        (beat(rebuffers=MAX_COUNT + 1), "qoe.rebuffers"),
        (beat(rebuffers=1.5), "qoe.rebuffers"),
        (beat(rebuffers=True), "qoe.rebuffers"),
        (beat(errors="3"), "qoe.errors"),
        (beat(startup_ms=-1), "qoe.startup_ms"),
        (beat(startup_ms=MAX_PLAY_MS + 1), "qoe.startup_ms"),
        (beat(rebuffer_ratio=1.01), "qoe.rebuffer_ratio"),
        (beat(height=100_000), "qoe.height"),
        (beat(pathway=["a"]), "qoe.pathway"),
        (beat(pathway={"a": 1}), "qoe.pathway"),
        (b'{"position_s": 1, "qoe": {"played_s": NaN}}', "qoe.played_s"),
        (b'{"position_s": 1, "qoe": {"played_s": Infinity}}', "qoe.played_s"),
        (b'{"position_s": 1, "qoe": {"played_s": 1e400}}', "qoe.played_s"),
        (b'{"position_s": 1e400}', "position_s"),
        (b'{"position_s": -0.5}', "position_s"),
        (orjson.dumps({"position_s": MAX_PLAY_S + 1}), "position_s"),
        (b'{"position_s": "1"}', "position_s"),
        (b'{"position_s": 1, "qoe": []}', "qoe"),
        (b'{"position_s": 1, "extra": 1}', "extra"),
        (b'{"qoe": {}}', "position_s"),
    ],
)
def test_an_oversized_or_hostile_heartbeat_is_a_bad_request_naming_the_field(body, field):
    with pytest.raises(BadRequestError, match=f"heartbeat: {field}: "):
        parse_body(Heartbeat, body, "heartbeat")


def test_the_largest_valid_heartbeat_makes_a_small_event():
    largest = parse_body(
        Heartbeat,
        beat(
            **{name: MAX_COUNT for name in ("rebuffers", "errors", "dropped_frames")},
            pathway="p" * 64,
            pathways_seen="s" * 256,
            last_error="\U0001f4a5" * 200,
            startup_ms=MAX_PLAY_MS,
        ),
        "heartbeat",
    )
    event = PlayHeartbeat(
        play_id="p" * 64, member_id="m" * 64, profile_id="f" * 64, title_id="t" * 64,
        position_s=largest.position_s, qoe=largest.qoe.reported(),
    )  # fmt: skip
    # Every field at its bound is a few KiB: far below the bus's 1 MiB max payload.
    assert len(orjson.dumps(event.model_dump(mode="json"))) < 8 * 1024


def test_the_openapi_document_states_the_bounds():
    schemas = fragment("play-api", OPERATIONS)["components"]["schemas"]
    qoe = schemas["QoE"]
    assert qoe["additionalProperties"] is False
    assert qoe["properties"]["last_error"]["anyOf"][0]["maxLength"] == 200
    assert qoe["properties"]["rebuffers"]["anyOf"][0]["maximum"] == MAX_COUNT
