"""A key the sign-up API accepts must be one billing accepts once the API has scoped it
("signup:<key>", "signup-declined:<key>"), and a refusal while undoing a decline still
answers the decline."""

from __future__ import annotations

import pytest
from tests.unit.apis.signup.fakes import EMAIL, FakeAccounts, FakeBilling, answer, form

from reelcloud.apis.signup.service import MAX_KEY, SignupService, checked_key
from reelcloud.platform.errors import BadRequestError, PaymentRequiredError

pytestmark = pytest.mark.asyncio


async def test_a_key_as_long_as_the_api_allows_signs_up(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    key = checked_key("k" * MAX_KEY)  # the API's own check and its OpenAPI maxLength
    billing.answers["start"] = answer("trialing")
    joined = await service.sign_up(form(), key)
    assert joined.status == "active"
    assert accounts.status_of(EMAIL) == "active"


async def test_a_long_key_declined_is_still_a_402_that_leaves_no_member(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("incomplete", "declined", "Do not honour.")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k" * MAX_KEY)
    assert refused.value.code == "card_declined"
    assert accounts.status_of(EMAIL) is None


async def test_one_character_more_is_refused_before_anyone_is_asked(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    with pytest.raises(BadRequestError) as refused:
        await service.sign_up(form(), "k" * (MAX_KEY + 1))
    assert refused.value.code == "bad_idempotency_key"
    assert accounts.status_of(EMAIL) is None


async def test_billing_refusing_the_undo_of_a_decline_still_answers_the_decline(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("incomplete", "declined", "Do not honour.")
    billing.answers["cancel"] = BadRequestError("no", code="subscription_not_active")
    with pytest.raises(PaymentRequiredError):
        await service.sign_up(form(trial="none"), "k")
    assert accounts.status_of(EMAIL) == "pending"  # left pending: signing up again resumes it
