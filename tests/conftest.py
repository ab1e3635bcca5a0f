import pytest

from reelcloud.platform.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
