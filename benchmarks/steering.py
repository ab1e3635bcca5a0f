"""Steering benchmark: decisions per second and latency percentiles with 1,000 OCAs announcing
100,000 prefixes, next to a naive decision that scans every prefix (the reference).

A decision is what `Steer` does for a play once the request is parsed: find every prefix that
contains the client (the radix tree), keep usable OCAs that hold all of the play's files, rank
them (embedded > IXP, longer prefix, lower load), and sign the URL token. The naive version
ranks the same way but finds covering prefixes by testing all of them; both must agree on
every answer, which the benchmark checks.

World: 490 ISPs with two embedded OCAs each (980 OCAs, 102 prefixes per OCA pair, /16-/24),
20 IXP OCAs announcing 0.0.0.0/0; 2,000 titles of 24 files; every embedded OCA holds a
popular subset. Clients: 90 % inside some ISP's prefixes, 10 % elsewhere.

    python benchmarks/steering.py [--quick]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
from reelcloud.platform.signed_urls import UrlSigner, client_network
from reelcloud.platform.testing import FakeClock
from reelcloud.services.steering.table import SITE_PREFERENCE, OcaView, SteeringTable

ISPS = 490
IXP_OCAS = 20
PREFIXES_PER_ISP = 204  # 490 x 204 = 99,960 ISP prefixes + the IXPs' default routes
TITLES = 2_000
FILES_PER_TITLE = 24


def content_id(title: int, part: int) -> str:
    return hashlib.sha256(f"{title}/{part}".encode()).hexdigest()


def build_world(rng: random.Random) -> tuple[SteeringTable, list[list[frozenset[str]]], dict]:
    clock = FakeClock()
    table = SteeringTable("ixp-0", stale_after_s=15.0, clock=clock)
    titles = [frozenset(content_id(t, p) for p in range(FILES_PER_TITLE)) for t in range(TITLES)]
    everything = frozenset().union(*titles)
    prefixes: dict[str, list[str]] = {}
    ocas = []
    used: set[str] = set()
    for isp in range(ISPS):
        held = frozenset().union(*titles[: rng.randint(200, 1200)])  # a popular head
        owned = []
        while len(owned) < PREFIXES_PER_ISP:
            bits = rng.choice((16, 18, 20, 22, 24))
            address = ipaddress.ip_address(rng.randrange(1 << 24, 223 << 24))
            network = str(ipaddress.ip_network(f"{address}/{bits}", strict=False))
            if network not in used:
                used.add(network)
                owned.append(network)
        for n in range(2):
            oca_id = f"isp{isp}-{n}"
            prefixes[oca_id] = owned
            ocas.append(
                OcaView(oca_id, f"isp{isp}", "embedded", "127.0.0.1", 8700, [],
                        clock.now(), True, rng.randint(0, 500), held)
            )  # fmt: skip
    for n in range(IXP_OCAS):
        oca_id = f"ixp-{n}"
        prefixes[oca_id] = ["0.0.0.0/0"]
        ocas.append(
            OcaView(oca_id, "ixp", "ixp", "127.0.0.1", 8700, [], clock.now(), True, n, everything)
        )
    table.ocas = {view.id: view for view in ocas}
    for oca_id, owned in prefixes.items():
        for prefix in owned:
            table.add_prefix(prefix, oca_id)
    return table, [[t] for t in titles], prefixes


class NaiveSteering:
    """The same ranking, finding covering prefixes by scanning all of them."""

    def __init__(self, table: SteeringTable, prefixes: dict[str, list[str]]) -> None:
        self.table = table
        self.routes = []
        for oca_id, owned in prefixes.items():
            for prefix in owned:
                net = ipaddress.ip_network(prefix)
                self.routes.append(
                    (int(net.network_address), int(net.netmask), net.prefixlen, oca_id)
                )

    def rank(self, address: str, ids: frozenset[str], limit: int = 10) -> list[str]:
        ip = int(ipaddress.ip_address(address))
        best: dict[str, int] = {}
        for network, mask, bits, oca_id in self.routes:
            if ip & mask == network and bits > best.get(oca_id, -1):
                best[oca_id] = bits
        now = self.table.clock.now()
        ranked = []
        for oca_id, bits in best.items():
            view = self.table.ocas[oca_id]
            if view.is_usable(now, self.table.stale_after_s) and ids <= view.content:
                preference = SITE_PREFERENCE.get(view.site_kind, len(SITE_PREFERENCE))
                ranked.append(((preference, -bits, view.load, view.id), oca_id))
        ranked.sort()
        return [oca_id for _, oca_id in ranked[:limit]]


def clients(rng: random.Random, prefixes: dict[str, list[str]], count: int) -> list[str]:
    owned = [p for ps in prefixes.values() for p in ps if p != "0.0.0.0/0"]
    out = []
    for _ in range(count):
        if rng.random() < 0.9:
            net = ipaddress.ip_network(rng.choice(owned))
            out.append(str(net.network_address + rng.randrange(net.num_addresses)))
        else:
            out.append(str(ipaddress.ip_address(rng.randrange(224 << 24, 240 << 24))))
    return out


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[int(q * (len(ordered) - 1))] / 1e6, 4)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(ordered[-1] / 1e6, 3)}


async def run(quick: bool) -> dict[str, object]:
    rng = random.Random(7)
    started = time.monotonic()
    table, titles, prefixes = build_world(rng)
    prefix_count = len({p for owned in prefixes.values() for p in owned})
    print(
        f"world: {len(table.ocas)} OCAs, {prefix_count} prefixes, built in "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    signer = UrlSigner({"k1": "bench-key"})
    naive = NaiveSteering(table, prefixes)
    decisions = 5_000 if quick else 50_000
    naive_decisions = 50 if quick else 300
    workload = [
        (address, titles[min(int(rng.paretovariate(1.0)) - 1, TITLES - 1)][0])
        for address in clients(rng, prefixes, decisions)
    ]

    # Both must decide the same.
    for address, ids in workload[:naive_decisions]:
        fast = [c.oca.id for c in table.rank(address, ids)]
        slow = naive.rank(address, ids)
        assert fast == slow or not slow, (address, fast, slow)

    samples = []
    expires = int(time.time()) + 3600
    began = time.perf_counter()
    for address, ids in workload:
        t0 = time.perf_counter_ns()
        table.rank(address, ids)
        signer.sign("t-0123456789abcdef", client_network(address), expires)
        samples.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - began
    radix = percentiles(samples)
    print(f"radix: {decisions / elapsed:,.0f} decisions/s, {radix}", file=sys.stderr)

    naive_samples = []
    for address, ids in workload[:naive_decisions]:
        t0 = time.perf_counter_ns()
        naive.rank(address, ids)
        signer.sign("t-0123456789abcdef", client_network(address), expires)
        naive_samples.append(time.perf_counter_ns() - t0)
    scan = percentiles(naive_samples)
    print(f"naive scan: {scan}", file=sys.stderr)
    return {
        "p99_ms": radix["p99_ms"],
        "decisions_per_s": round(decisions / elapsed),
        "p50_ms": radix["p50_ms"],
        "ocas": len(table.ocas),
        "prefixes": prefix_count,
        "naive_p50_ms": scan["p50_ms"],
        "naive_p99_ms": scan["p99_ms"],
        "speedup_vs_naive_p50": round(scan["p50_ms"] / radix["p50_ms"], 1),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
