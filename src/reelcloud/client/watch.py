"""One viewer watching one title, start to finish: what `reelcloud play` runs.

Sign in from an address in the chosen network, find the title (by id or by name), start the
play, and hand it to the headless player with the chosen ABR rule, speed and emulated network.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelcloud.client.abr import Abr, BufferBased, ThroughputBased
from reelcloud.client.network import BandwidthTrace, Throttle, source_address
from reelcloud.client.player import HeadlessPlayer, QoE
from reelcloud.client.sdk import PlatformClient, Play
from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.platform.topology import OpenConnectConfig

ABR_RULES: dict[str, Callable[[], Abr]] = {
    "bba": BufferBased,
    "throughput": ThroughputBased,
}


def make_abr(name: str) -> Abr:
    if name not in ABR_RULES:
        raise BadRequestError(f"unknown ABR rule {name!r} (known: {', '.join(ABR_RULES)})")
    return ABR_RULES[name]()


def find_title(titles: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """By id, else by name (case-insensitive: exact, then prefix, then a part of it)."""
    lower = wanted.strip().lower()
    matches: list[Callable[[dict[str, Any]], bool]] = [
        lambda t: t["id"] == wanted,
        lambda t: str(t["name"]).lower() == lower,
        lambda t: str(t["name"]).lower().startswith(lower),
        lambda t: lower in str(t["name"]).lower(),
    ]
    for match in matches:
        found = [t for t in titles if match(t)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(sorted(t["name"] for t in found))
            raise BadRequestError(f"{wanted!r} matches several titles: {names}")
    raise NotFoundError(f"no title {wanted!r} in the catalog")


@dataclass(frozen=True)
class Viewing:
    play: Play
    title: dict[str, Any]
    source_address: str
    qoe: QoE


async def watch_title(
    gateway: str,
    openconnect: OpenConnectConfig,
    title: str,
    *,
    email: str,
    password: str,
    network: str,
    abr: str = "bba",
    speed: float = 1.0,
    watch_s: float | None = None,
    trace: BandwidthTrace | None = None,
    on_progress: Callable[[dict[str, Any]], None] = lambda state: None,
) -> Viewing:
    address = source_address(openconnect, network, random.Random())
    throttle = Throttle(trace, speed=speed) if trace is not None else None
    async with PlatformClient(gateway, source_address=address, throttle=throttle) as client:
        await client.sign_in(email, password)
        chosen = find_title(await client.titles(), title)
        play = await client.play(chosen["id"])
        player = HeadlessPlayer(client, play, make_abr(abr), speed=speed, on_progress=on_progress)
        qoe = await player.run(watch_s)
        return Viewing(play, chosen, address, qoe)
