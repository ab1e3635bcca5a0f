import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.support.factories import openconnect_dict

from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.steering_state import SteeringState
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.steering.service import SteeringService
from reelcloud.services.steering.settings import SteeringSettings

HELD = hashlib.sha256(b"held").hexdigest()
MISSING = hashlib.sha256(b"missing").hexdigest()


def entry(oca_id, site, kind, prefixes, *, titles=("t-1",), age=0.1):
    return {
        "id": oca_id,
        "site": site,
        "site_kind": kind,
        "address": "127.0.0.1",
        "port": 8700,
        "prefixes": prefixes,
        "report_age_s": age,
        "reports_ok": True,
        "load": 0,
        "content_ids": [HELD],
        "titles_held": list(titles),
    }


@pytest.fixture
def steering():
    config = OpenConnectConfig.model_validate(openconnect_dict())
    service = SteeringService(config, SteeringSettings(manifest_ttl_s=3), clock=FakeClock())
    service.table.load(
        SteeringState.model_validate(
            {
                "stale_after_s": 1.5,
                "content_version": "e.1.0",
                "ocas": [
                    entry("oca-a-1", "isp-a-1", "embedded", ["127.10.0.0/16"]),
                    entry("oca-ixp-1", "ixp-1", "ixp", ["0.0.0.0/0"], titles=()),
                ],
            }
        )
    )
    return service


def session_of(answer):
    return parse_qs(urlsplit(answer.steering_path).query)["s"][0]


def test_steers_to_holders_with_signed_urls_and_a_manifest_session(steering):
    answer = steering.steer(title_id="t-1", client_address="127.10.0.5", content_ids=[HELD])
    assert [(c.oca_id, c.rank, c.reason) for c in answer.candidates] == [
        ("oca-a-1", 1, "embedded"),
        ("oca-ixp-1", 2, "ixp"),
    ]
    assert answer.candidates[0].base_url.startswith("http://127.0.0.1:8700/v/")
    assert answer.candidates[0].base_url.endswith("/t-1/")
    assert answer.expires_at == int(steering.clock.now()) + steering.config.url_ttl_s


def test_no_oca_holding_the_files_is_an_empty_answer_not_an_error(steering):
    answer = steering.steer(
        title_id="t-1", client_address="127.10.0.5", content_ids=[HELD, MISSING]
    )
    assert answer.candidates == []
    assert steering.manifest(session_of(answer), "hls").pathways == []


def test_the_manifest_lists_only_pathways_holding_the_title_in_both_formats(steering):
    answer = steering.steer(title_id="t-1", client_address="127.10.0.5", content_ids=[HELD])
    session = session_of(answer)
    hls = steering.manifest(session, "hls").model_dump(by_alias=True, exclude_none=True)
    dash = steering.manifest(session, "dash").model_dump(by_alias=True, exclude_none=True)
    # oca-ixp-1 holds the requested file but not every playable file of t-1 (it is filling).
    assert hls == {
        "VERSION": 1,
        "TTL": 3,
        "RELOAD-URI": f"/steering/v1/manifest?s={session}&f=hls",
        "PATHWAY-PRIORITY": ["oca-a-1"],
    }
    assert dash["SERVICE-LOCATION-PRIORITY"] == ["oca-a-1"]
    assert "PATHWAY-PRIORITY" not in dash
    assert dash["RELOAD-URI"].endswith("&f=dash")


def test_bad_requests_and_forged_or_expired_sessions_are_refused(steering):
    with pytest.raises(BadRequestError, match="title id"):
        steering.steer(title_id="../etc", client_address="127.10.0.5")
    with pytest.raises(BadRequestError, match="IP address"):
        steering.steer(title_id="t-1", client_address="not-an-ip")
    with pytest.raises(BadRequestError, match="IP address"):
        steering.steer(title_id="t-1", client_address="127.10.0.5", network_address="999.1.1.1")
    with pytest.raises(BadRequestError, match="content ids"):
        steering.steer(title_id="t-1", client_address="127.10.0.5", content_ids=["x"] * 10_001)
    session = session_of(steering.steer(title_id="t-1", client_address="127.10.0.5"))
    with pytest.raises(BadRequestError, match="hls or dash"):
        steering.manifest(session, "smooth")
    with pytest.raises(ForbiddenError, match="signature"):
        steering.manifest(session[:-3] + "xyz", "hls")
    steering.clock.advance(steering.config.url_ttl_s + 1)
    with pytest.raises(ForbiddenError, match="expired"):
        steering.manifest(session, "hls")
