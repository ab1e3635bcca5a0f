"""Everything a running platform keeps on disk lives under one data directory, readable by
its owner only (directories 0700, files 0600): it holds secrets, content keys and members'
data."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

# sun_path holds 108 bytes on Linux; leave room for the terminating NUL and some slack.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def at(cls, path: Path) -> DataDir:
        return cls(path.expanduser().resolve())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        """Announce files: each instance writes its address here once it listens."""
        return self.root / "run"

    @property
    def engines(self) -> Path:
        return self.root / "engines"

    @property
    def lock_file(self) -> Path:
        return self.root / "launcher.lock"

    @property
    def state_file(self) -> Path:
        return self.root / "launcher.json"

    @property
    def control_socket(self) -> Path:
        """The launcher's control socket; moved to the temp dir when the path is too long."""
        path = self.root / "launcher.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"reelcloud-{digest}.sock"

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name.replace(':', '_')}.log"

    def ensure(self) -> None:
        for path in (self.root, self.logs, self.run, self.engines):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)

    @staticmethod
    def private_file(path: Path) -> Path:
        """`path`, created empty with mode 0600 if missing (writing keeps the mode)."""
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        path.chmod(0o600)
        return path

    def make_private(self, *, skip: tuple[Path, ...] = ()) -> int:
        """Take group and other permissions off everything under the root (a data directory
        from before this rule, or files restored by hand); `skip`: trees another user owns
        (PostgreSQL's, which keeps its own modes). Returns how many entries changed."""
        changed = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            directory = Path(dirpath)
            dirnames[:] = [d for d in dirnames if directory / d not in skip]
            for path in [directory, *(directory / name for name in filenames)]:
                try:
                    mode = path.lstat().st_mode
                    if stat.S_ISLNK(mode) or not mode & 0o077:
                        continue
                    path.chmod(stat.S_IMODE(mode) & 0o700)
                except FileNotFoundError:
                    continue  # removed meanwhile by the process that owns it
                changed += 1
        return changed
