"""Encode benchmark: the single-decode multi-rung encode against one ffmpeg run per rung (same
ladder, same source, same run), and our pipeline's overhead over running the bare ffmpeg
command it builds.

The source is synthetic (testsrc2 + a tone, 1280x720 at 30 fps); the ladder is the standard
one for 720p (240p, 360p, 480p, 720p). Wall times are medians of the runs.

    python benchmarks/encode.py [--quick]
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.media import make_video

import harness
from reelcloud.encoding.ffmpeg import EncodePlan, command, encode
from reelcloud.encoding.ladder import ladder_for
from reelcloud.encoding.probe import probe


async def run_ffmpeg(argv: list[str]) -> float:
    started = time.perf_counter()
    await asyncio.to_thread(subprocess.run, argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


async def run(quick: bool) -> dict[str, float]:
    seconds, repeats = (8, 1) if quick else (20, 3)
    work = Path(tempfile.mkdtemp(prefix="reelcloud-encode-"))
    try:
        print(f"making a {seconds} s 720p source …", file=sys.stderr, flush=True)
        info = probe(make_video(work / "source.mp4", seconds=seconds, size="1280x720"))
        rungs = ladder_for(info)

        def fresh(name: str) -> Path:
            out = work / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            return out

        bare, ours, per_rung = [], [], []
        for round_no in range(repeats):
            print(f"round {round_no + 1}/{repeats}: bare ffmpeg …", file=sys.stderr, flush=True)
            bare.append(await run_ffmpeg(command(EncodePlan(info, rungs, fresh("bare")))))
            print("  pipeline encode() …", file=sys.stderr, flush=True)
            plan = EncodePlan(info, rungs, fresh("ours"))
            started = time.perf_counter()
            await encode(plan)
            ours.append(time.perf_counter() - started)
            print("  one ffmpeg run per rung …", file=sys.stderr, flush=True)
            total = 0.0
            for index, rung in enumerate(rungs):
                # Audio is encoded once, with the first rung, as in the single run.
                source = dataclasses.replace(info, has_audio=info.has_audio and index == 0)
                single = command(EncodePlan(source, [rung], fresh(f"rung-{rung.height}")))
                total += await run_ffmpeg(single)
            per_rung.append(total)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t_bare, t_ours, t_rungs = (statistics.median(x) for x in (bare, ours, per_rung))
    print(f"ladder {[r.name for r in rungs]}, source {seconds} s 720p30")
    print(f"single decode (bare ffmpeg) {t_bare:6.2f} s  realtime x{seconds / t_bare:.2f}")
    print(f"single decode (pipeline)    {t_ours:6.2f} s  realtime x{seconds / t_ours:.2f}")
    print(f"one run per rung            {t_rungs:6.2f} s  realtime x{seconds / t_rungs:.2f}")
    return {
        "single_decode_speedup": round(t_rungs / t_bare, 3),
        "overhead_pct": round((t_ours - t_bare) / t_bare * 100, 2),
        "realtime_factor": round(seconds / t_ours, 3),
        "single_decode_s": round(t_bare, 2),
        "per_rung_s": round(t_rungs, 2),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
