import pytest
from tests.unit.apis.play.fakes import TITLE_ID, manifest_json

from reelcloud.apis.play.documents import Pathway
from reelcloud.apis.play.models import PlaySession, TitleInfo
from reelcloud.platform.errors import BadRequestError, UnavailableError
from reelcloud.rpc import catalog_pb2


def test_a_play_session_survives_its_blob():
    session = PlaySession(
        play_id="pl-1", member_id="m-1", session_id="s-1", profile_id="p-1", title_id=TITLE_ID, rungs=["240p"],
        pathways=[Pathway("oca-a-1", "http://127.10.255.1:8700/v/t/x/")], key_url="/k",
        steering_url="/s", expires_at=1_900_000_000,
    )  # fmt: skip
    assert PlaySession.from_blob(session.to_blob()) == session


@pytest.mark.parametrize("blob", [{}, {"p": "pl-1"}, {**dict.fromkeys("pmftrksx", "x"), "o": 5}])
def test_a_malformed_play_session_is_a_bad_request(blob):
    with pytest.raises(BadRequestError):
        PlaySession.from_blob(blob)


def test_a_title_whose_manifest_cannot_be_read_is_unavailable_not_a_crash():
    for manifest in ("{", '{"title_id": "x"}', manifest_json().replace('"encryption"', '"x"')):
        with pytest.raises(UnavailableError) as failed:
            TitleInfo.of(catalog_pb2.Title(id=TITLE_ID, manifest_json=manifest))
        assert failed.value.code == "manifest_unreadable"


def test_content_ids_are_those_of_the_chosen_rungs_and_the_audio():
    info = TitleInfo.of(catalog_pb2.Title(id=TITLE_ID, manifest_json=manifest_json()))
    assert len(info.content_ids(["240p"])) == 6
    assert info.content_ids(["240p"]) is info.content_ids(["240p"])  # worked out once
