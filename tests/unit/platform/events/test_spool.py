from reelcloud.platform.events.spool import Spool


def test_spool_replays_in_order_and_empties_itself(tmp_path):
    spool = Spool(tmp_path)
    spool.append([b"a", b"b", b"c"])
    lines, end = spool.read(2)
    assert lines == [b"a", b"b"]
    spool.commit(end)
    spool.append([b"d"])
    reopened = Spool(tmp_path)  # a restart resumes where replay stopped
    lines, end = reopened.read(10)
    assert lines == [b"c", b"d"]
    reopened.commit(end)
    assert not reopened.pending()
    assert not (tmp_path / "spool.jsonl").exists()


def test_spool_ignores_a_torn_last_line(tmp_path):
    spool = Spool(tmp_path)
    spool.append([b"whole"])
    with open(tmp_path / "spool.jsonl", "ab") as f:
        f.write(b"half-writ")
    lines, _ = Spool(tmp_path).read(10)
    assert lines == [b"whole"]
