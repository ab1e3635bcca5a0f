"""An OCA's disk: content-addressed files, the titles they belong to, and a capacity.

    <root>/objects/ab/<content id>   verified files, servable
    <root>/partial/<content id>      downloads in progress (resumed after a crash, never served)
    <root>/titles.json               title id → {file name → content id}

A file enters `objects/` only by `commit`, which checks its SHA-256 against its content id and
renames it in place, so a crash leaves either a partial download or a whole verified file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import orjson

from reelcloud.platform.assets import CONTENT_ID

log = logging.getLogger(__name__)

OPEN_FILES = 256  # descriptors kept open for serving (nginx's open_file_cache)


class CorruptContentError(Exception):
    """A downloaded file whose bytes do not hash to its content id."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class OpenFile:
    """A descriptor shared by the replies sending it."""

    fd: int
    size: int
    users: int = 0
    retired: bool = False  # closed once the last reply using it is done

    def release(self) -> None:
        self.users -= 1
        if self.retired and self.users == 0:
            os.close(self.fd)


class ContentStore:
    def __init__(self, root: Path, capacity_bytes: int) -> None:
        self.root = root
        self.capacity_bytes = capacity_bytes
        self._objects = root / "objects"
        self._partial = root / "partial"
        self._index_path = root / "titles.json"
        self.sizes: dict[str, int] = {}  # content id → bytes, verified files only
        self.titles: dict[str, dict[str, str]] = {}
        self._open: OrderedDict[str, OpenFile] = OrderedDict()
        self.load()

    # ---- state ---------------------------------------------------------------------------------

    def load(self) -> None:
        self._objects.mkdir(parents=True, exist_ok=True)
        self._partial.mkdir(parents=True, exist_ok=True)
        for path in self._objects.glob("*/*"):
            if CONTENT_ID.match(path.name):
                self.sizes[path.name] = path.stat().st_size
            else:
                path.unlink()  # an interrupted commit's temporary name
        if self._index_path.exists():
            self.titles = orjson.loads(self._index_path.read_bytes())

    @property
    def used_bytes(self) -> int:
        return sum(self.sizes.values())

    @property
    def free_bytes(self) -> int:
        return max(0, self.capacity_bytes - self.used_bytes)

    def has(self, content_id: str) -> bool:
        return content_id in self.sizes

    def complete_titles(self) -> list[str]:
        held = self.sizes
        return [t for t, files in self.titles.items() if all(c in held for c in files.values())]

    def lookup(self, title_id: str, name: str) -> str | None:
        files = self.titles.get(title_id)
        if files is None:
            return None
        content_id = files.get(name)
        return content_id if content_id in self.sizes else None

    def set_title(self, title_id: str, files: dict[str, str]) -> None:
        if self.titles.get(title_id) != files:
            self.titles[title_id] = files
            self._write_index()

    def drop_title(self, title_id: str) -> None:
        if self.titles.pop(title_id, None) is not None:
            self._write_index()

    def _write_index(self) -> None:
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.titles))
        tmp.replace(self._index_path)

    # ---- files ---------------------------------------------------------------------------------

    def object_path(self, content_id: str) -> Path:
        return self._objects / content_id[:2] / content_id

    def partial_path(self, content_id: str) -> Path:
        return self._partial / content_id

    def commit(self, content_id: str) -> None:
        """Verify a finished download and make it servable; a mismatch deletes it."""
        partial = self.partial_path(content_id)
        if sha256_of(partial) != content_id:
            partial.unlink()
            raise CorruptContentError(f"{content_id[:12]}… failed verification")
        target = self.object_path(content_id)
        target.parent.mkdir(exist_ok=True)
        os.replace(partial, target)
        self.sizes[content_id] = target.stat().st_size

    def evict(self, content_id: str) -> int:
        size = self.sizes.pop(content_id, 0)
        self.object_path(content_id).unlink(missing_ok=True)
        handle = self._open.pop(content_id, None)
        if handle is not None:
            handle.retired = True
            if handle.users == 0:
                os.close(handle.fd)
        return size

    def open(self, content_id: str) -> OpenFile:
        """A descriptor for serving, from a small LRU of open files; call `release` after."""
        handle = self._open.get(content_id)
        if handle is None:
            fd = os.open(self.object_path(content_id), os.O_RDONLY | os.O_CLOEXEC)
            handle = OpenFile(fd, os.fstat(fd).st_size)
            self._open[content_id] = handle
            if len(self._open) > OPEN_FILES:
                _, oldest = self._open.popitem(last=False)
                oldest.retired = True
                if oldest.users == 0:
                    os.close(oldest.fd)
        else:
            self._open.move_to_end(content_id)
        handle.users += 1
        return handle

    def close(self) -> None:
        for handle in self._open.values():
            handle.retired = True
            if handle.users == 0:
                os.close(handle.fd)
        self._open.clear()
