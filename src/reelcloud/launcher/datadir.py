"""Everything a running platform keeps on disk lives under one data directory."""

from __future__ import annotations

import hashlib
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
            path.mkdir(parents=True, exist_ok=True)
