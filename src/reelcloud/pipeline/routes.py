"""The routes file: read, checked, and watched for edits (a broken edit keeps the old routes)."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reelcloud.pipeline.models import Route, RoutesFile
from reelcloud.platform.errors import ConfigurationError

log = logging.getLogger(__name__)


def default_routes_text() -> str:
    return resources.files("reelcloud.pipeline").joinpath("routes.yaml").read_text()


def parse_routes(text: str, where: str) -> list[Route]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where} is not YAML: {exc}") from exc
    try:
        return list(RoutesFile.model_validate(raw).routes)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"{where}: {at}: {first['msg']}") from exc


class RoutesWatcher:
    """The routes in force. `check()` rereads the file when it changed: on a good edit the new
    routes are in force; on a broken one the old stay and `error` says why."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(default_routes_text())
        self.routes = parse_routes(path.read_text(), str(path))  # a broken file fails start-up
        self.error: str | None = None
        self._seen = self._stamp()

    def _stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def check(self) -> bool:
        """True when the routes changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            routes = parse_routes(self.path.read_text(), str(self.path))
        except (OSError, ConfigurationError) as exc:
            self.error = str(exc)
            log.error("routes not reloaded, the old ones stay: %s", exc)
            return False
        self.error = None
        changed = routes != self.routes
        self.routes = routes
        if changed:
            log.info("routes reloaded: %s", ", ".join(route.name for route in routes))
        return changed


def passes(route: Route, payload: dict[str, Any]) -> bool:
    return all(payload.get(field) in allowed for field, allowed in route.where.items())
