from reelcloud.platform.events.spool import Spool


def test_spool_replays_in_order_and_empties_itself(tmp_path):
    spool = Spool(tmp_path)
    spool.append([b"a", b"b", b"c"])
    entries = spool.read(2)
    assert entries == [(b"a", 2), (b"b", 4)]  # each with the offset after it
    spool.commit(entries[-1][1])
    spool.append([b"d"])
    reopened = Spool(tmp_path)  # a restart resumes where replay stopped
    entries = reopened.read(10)
    assert [line for line, _ in entries] == [b"c", b"d"]
    reopened.commit(entries[-1][1])
    assert not reopened.pending()
    assert not (tmp_path / "spool.jsonl").exists()


def test_a_torn_last_line_is_ended_at_open_so_the_next_event_stays_whole(tmp_path):
    spool = Spool(tmp_path)
    spool.append([b"whole"])
    with open(tmp_path / "spool.jsonl", "ab") as f:
        f.write(b"half-writ")  # a crash mid-write
    assert spool.read(10) == [(b"whole", 6)]  # a line not ended yet is not read
    reopened = Spool(tmp_path)
    reopened.append([b"next"])
    # The torn line is its own line (the producer dead-letters it as unreadable).
    assert [line for line, _ in reopened.read(10)] == [b"whole", b"half-writ", b"next"]


def test_a_read_stops_after_its_byte_budget_but_returns_at_least_one_event(tmp_path):
    spool = Spool(tmp_path)
    spool.append([b"x" * 100, b"y" * 100, b"z"])
    assert [len(line) for line, _ in spool.read(10, max_bytes=50)] == [100]
    assert [len(line) for line, _ in spool.read(10, max_bytes=150)] == [100, 100]


def test_the_spool_is_private_to_its_user_even_when_an_older_version_made_it(tmp_path):
    (tmp_path / "spool.jsonl").write_bytes(b"old\n")
    (tmp_path / "spool.jsonl").chmod(0o644)
    spool = Spool(tmp_path)
    spool.commit(0)  # writes the offset file
    spool.append([b"new"])
    spool.commit(4)
    for name in ("spool.jsonl", "spool.offset"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
