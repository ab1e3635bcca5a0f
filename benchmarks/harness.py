"""What every benchmark shares: a `--quick` flag and the headline figures as one JSON object
on the last line."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any


def main(description: str, run: Callable[[bool], Awaitable[dict[str, Any]]]) -> None:
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run under 60 s")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.quick))))
