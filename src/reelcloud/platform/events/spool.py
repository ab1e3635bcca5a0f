"""An append-only file of events waiting for NATS, replayed from a saved offset.

One event per line. `replayed` (a small side file) records how far replay has got, so a
restart neither loses nor re-sends what was already published (re-sending would be harmless:
JetStream drops repeated message ids within the stream's duplicate window).
"""

from __future__ import annotations

from pathlib import Path


class Spool:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._data = directory / "spool.jsonl"
        self._offset_file = directory / "spool.offset"
        self._offset = int(self._offset_file.read_text() or 0) if self._offset_file.exists() else 0
        self._size = self._data.stat().st_size if self._data.exists() else 0
        self.spooled = 0

    def pending(self) -> bool:
        return self._offset < self._size

    def append(self, lines: list[bytes]) -> None:
        if not lines:
            return
        with open(self._data, "ab") as spool:
            spool.write(b"".join(line + b"\n" for line in lines))
            spool.flush()
        self._size += sum(len(line) + 1 for line in lines)
        self.spooled += len(lines)

    def read(self, count: int) -> tuple[list[bytes], int]:
        """Up to `count` events from the replay offset, and the offset after them."""
        lines: list[bytes] = []
        with open(self._data, "rb") as spool:
            spool.seek(self._offset)
            end = self._offset
            for line in spool:
                if not line.endswith(b"\n"):
                    break  # a torn last line (crash mid-write): stop before it
                lines.append(line[:-1])
                end += len(line)
                if len(lines) >= count:
                    break
        return lines, end

    def commit(self, offset: int) -> None:
        self._offset = offset
        if self._offset >= self._size:
            self._data.unlink(missing_ok=True)
            self._offset_file.unlink(missing_ok=True)
            self._offset = self._size = 0
        else:
            self._offset_file.write_text(str(offset))
