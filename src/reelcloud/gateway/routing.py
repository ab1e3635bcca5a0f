"""The route table: path prefixes to origins or endpoints, re-read when its file changes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from reelcloud.platform.errors import ConfigurationError

log = logging.getLogger(__name__)


class Route(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str
    origin: str | None = None
    endpoint: Literal["proxy", "static", "health", "openapi"] = "proxy"
    auth: Literal["required", "optional", "none"] = "optional"
    strip_prefix: bool = False

    @model_validator(mode="after")
    def _check(self) -> Route:
        if not self.prefix.startswith("/"):
            raise ValueError(f"prefix {self.prefix!r} must start with '/'")
        if self.endpoint == "proxy" and not self.origin:
            raise ValueError(f"route {self.prefix}: give an origin or an endpoint")
        if self.endpoint != "proxy" and self.origin:
            raise ValueError(f"route {self.prefix}: an origin goes only with the proxy endpoint")
        return self

    def matches(self, path: str) -> bool:
        if self.prefix == "/":
            return True
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route]


def load_routes(path: Path) -> list[Route]:
    try:
        raw = yaml.safe_load(path.read_text())
        routes = _RoutesFile.model_validate(raw).routes
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"routes file {path}: {exc}") from exc
    # Longest prefix first, so the first match is the most specific.
    return sorted(routes, key=lambda r: len(r.prefix), reverse=True)


@dataclass
class RouteTable:
    path: Path
    routes: list[Route]
    mtime_ns: int

    @classmethod
    def load(cls, path: Path) -> RouteTable:
        return cls(path, load_routes(path), path.stat().st_mtime_ns)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if route.matches(path):
                return route
        return None

    def reload_if_changed(self) -> bool:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return False
        if mtime == self.mtime_ns:
            return False
        self.mtime_ns = mtime
        try:
            self.routes = load_routes(self.path)
        except ConfigurationError as exc:
            log.error("keeping the previous routes: %s", exc)
            return False
        log.info("routes reloaded: %d routes from %s", len(self.routes), self.path)
        return True

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.reload_if_changed()
