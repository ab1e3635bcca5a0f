"""The price table billing charges and the sign-up API shows (platform/pricing.py)."""

import pytest

from reelcloud.platform import pricing
from reelcloud.platform.errors import BadRequestError


@pytest.mark.parametrize(
    ("country", "currency"),
    [("US", "USD"), ("GB", "GBP"), ("FR", "EUR"), ("DE", "EUR"), ("BR", "BRL")],
)
def test_every_plan_has_a_price_in_the_countrys_currency(country, currency):
    prices = pricing.prices(country)
    assert [p.plan.name for p in prices] == ["basic", "standard", "premium"]
    assert {p.currency for p in prices} == {currency}
    amounts = [p.amount_minor for p in prices]
    assert amounts == sorted(amounts)  # a bigger plan costs more
    assert len(set(amounts)) == 3
    assert all(isinstance(a, int) and a > 0 for a in amounts)


def test_plans_carry_screens_and_resolution_as_accounts_has_them():
    assert {(p.name, p.max_height, p.max_streams) for p in pricing.PLANS.values()} == {
        ("basic", 480, 1),
        ("standard", 1080, 2),
        ("premium", 1080, 4),
    }


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda: pricing.price("US", "platinum"), "unknown_plan"),
        (lambda: pricing.price("ZZ", "basic"), "country_not_sold"),
        (lambda: pricing.price("CN", "basic"), "country_not_sold"),
        (lambda: pricing.price("FR", "basic", "USD"), "currency_not_sold"),
        (lambda: pricing.prices("KP"), "country_not_sold"),
    ],
)
def test_what_is_not_sold_is_a_bad_request_with_a_clear_code(call, code):
    with pytest.raises(BadRequestError) as caught:
        call()
    assert caught.value.code == code


def test_prices_display_in_major_units():
    assert pricing.price("GB", "standard").display() == "10.99 GBP"
    assert pricing.price("US", "premium", "USD").display() == "22.99 USD"
