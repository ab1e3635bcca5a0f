"""The sign-up service over a fake accounts and billing, and a member who has signed up."""

from __future__ import annotations

import pytest
import pytest_asyncio
from tests.unit.apis.signup.fakes import FakeAccounts, FakeBilling, answer, form

from reelcloud.apis.signup.service import Caller, SignupService


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts()


@pytest.fixture
def billing() -> FakeBilling:
    return FakeBilling()


@pytest.fixture
def service(accounts: FakeAccounts, billing: FakeBilling) -> SignupService:
    return SignupService(accounts, billing)


@pytest_asyncio.fixture
async def member(service: SignupService, billing: FakeBilling) -> Caller:
    """An active member on a trial, signed in; billing's record of joining forgotten."""
    billing.answers["start"] = answer("trialing")
    joined = await service.sign_up(form(), "k")
    billing.answers.clear()
    billing.calls.clear()
    return Caller(joined.member.id, "s-1")
