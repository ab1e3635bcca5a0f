import asyncio

import pytest
from tests.support.commands import runner

from reelcloud.platform.errors import BadRequestError, CommandTimeoutError

pytestmark = pytest.mark.asyncio


async def test_config_changes_apply_at_run_time_and_are_validated(clock):
    commands = runner(clock)
    commands.config.set_command("dep", timeout_ms=10)

    async def slow():
        await asyncio.sleep(1)

    with pytest.raises(CommandTimeoutError):
        await commands.execute("dep", slow)
    with pytest.raises(BadRequestError, match="unknown"):
        commands.config.set_command("dep", timeout_seconds=1)
    with pytest.raises(BadRequestError, match="int"):
        commands.config.set_command("dep", timeout_ms="fast")
    with pytest.raises(BadRequestError):
        commands.config.set_command("dep", error_threshold_percent=150)
