"""An append-only file of events waiting for NATS, replayed from a saved offset.

One event per line. `replayed` (a small side file) records how far replay has got, so a
restart neither loses nor re-sends what was already published (re-sending would be harmless:
JetStream drops repeated message ids within the stream's duplicate window). Replay commits
event by event: the offset may stop inside a batch, right before the first event that must be
sent again. Both files are private to the process's user (0600): events carry member ids.
"""

from __future__ import annotations

import os
from pathlib import Path

from reelcloud.platform.events.deadletter import open_private

# A batch read from the spool stops after this many bytes (but holds at least one event), so
# a spool from before events were bounded cannot pull hundreds of MiB into memory at once.
READ_BYTES = 8 * 1024 * 1024


class Spool:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._data = directory / "spool.jsonl"
        self._offset_file = directory / "spool.offset"
        for made_earlier in (self._data, self._offset_file):  # by a version that left them 0644
            if made_earlier.exists():
                made_earlier.chmod(0o600)
        self._offset = int(self._offset_file.read_text() or 0) if self._offset_file.exists() else 0
        self._size = self._data.stat().st_size if self._data.exists() else 0
        self.spooled = 0
        if self._size and self._last_byte() != b"\n":
            # A torn last line (a crash mid-write): end it, so that it is a line of its own
            # (dead-lettered as unreadable) instead of the start of the next event appended.
            self.append([b""])
            self.spooled = 0

    def _last_byte(self) -> bytes:
        with open(self._data, "rb") as spool:
            spool.seek(-1, os.SEEK_END)
            return spool.read(1)

    @property
    def offset(self) -> int:
        return self._offset

    def pending(self) -> bool:
        return self._offset < self._size

    def append(self, lines: list[bytes]) -> None:
        if not lines:
            return
        with os.fdopen(open_private(self._data, os.O_WRONLY | os.O_APPEND), "ab") as spool:
            spool.write(b"".join(line + b"\n" for line in lines))
            spool.flush()
        self._size += sum(len(line) + 1 for line in lines)
        self.spooled += len(lines)

    def read(self, count: int, max_bytes: int = READ_BYTES) -> list[tuple[bytes, int]]:
        """Up to `count` events from the replay offset, each with the offset after it."""
        entries: list[tuple[bytes, int]] = []
        with open(self._data, "rb") as spool:
            spool.seek(self._offset)
            end = self._offset
            for line in spool:
                if not line.endswith(b"\n"):
                    break  # a torn last line (crash mid-write): stop before it
                end += len(line)
                entries.append((line[:-1], end))
                if len(entries) >= count or end - self._offset >= max_bytes:
                    break
        return entries

    def commit(self, offset: int) -> None:
        self._offset = offset
        if self._offset >= self._size:
            self._data.unlink(missing_ok=True)
            self._offset_file.unlink(missing_ok=True)
            self._offset = self._size = 0
        else:
            descriptor = open_private(self._offset_file, os.O_WRONLY | os.O_TRUNC)
            with os.fdopen(descriptor, "w") as offset_file:
                offset_file.write(str(offset))
