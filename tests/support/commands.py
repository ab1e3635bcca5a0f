"""Small pieces the resilience command tests share: a failing call, a runner with one
configured command, its counters."""

from __future__ import annotations

from typing import Any

from reelcloud.platform.resilience import CommandRunner, ResilienceConfig


class Boom(Exception):
    pass


async def fail() -> None:
    raise Boom("down")


async def ok(value: str = "ok") -> str:
    return value


def runner(clock: Any, **command: Any) -> CommandRunner:
    """A runner whose command "dep" has these options (defaults otherwise)."""
    config = ResilienceConfig()
    if command:
        config.set_command("dep", **command)
    return CommandRunner(config, clock=clock)


def counts(commands: CommandRunner, name: str = "dep") -> Any:
    return commands.metrics[name].cumulative
