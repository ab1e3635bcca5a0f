import orjson
import pytest

from reelcloud.platform.cache import JsonCodec, ProtobufCodec
from reelcloud.platform.cache.entry import pack, unpack
from reelcloud.rpc import accounts_pb2


def test_protobuf_values_round_trip_in_their_wire_format():
    codec = ProtobufCodec(accounts_pb2.Member)
    member = accounts_pb2.Member(id="m-1", country="US", plan="premium", max_streams=4)
    data = codec.encode(member)
    assert data == member.SerializeToString()
    assert codec.decode(data) == member


def test_json_values_round_trip():
    codec = JsonCodec()
    assert codec.decode(codec.encode({"a": [1, "b"]})) == {"a": [1, "b"]}
    with pytest.raises(orjson.JSONDecodeError):
        codec.decode(b"{")


def test_an_entry_carries_its_write_time_and_foreign_bytes_are_refused():
    assert unpack(pack(1_700_000_000.25, b"payload")) == (1_700_000_000.25, b"payload")
    assert unpack(b"") is None
    assert unpack(b"\x02" + pack(1.0, b"x")[1:]) is None  # another format version
