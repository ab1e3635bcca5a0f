"""What membership costs: the plans, and each plan's monthly price in the currency of every
country the service is sold in.

One table for everyone who shows or charges a price (billing charges it, the sign-up API shows
it), so a price can never differ between the page and the invoice. Amounts are integer minor
units (cents, pence, centavos): money is never a float anywhere in the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelcloud.platform.errors import BadRequestError


@dataclass(frozen=True, slots=True)
class PlanSpec:
    name: str
    max_height: int  # the best resolution it streams (as accounts has it)
    max_streams: int  # screens at a time
    rank: int  # higher is a bigger plan: moving up is an upgrade


PLANS: dict[str, PlanSpec] = {
    "basic": PlanSpec("basic", 480, 1, 1),
    "standard": PlanSpec("standard", 1080, 2, 2),
    "premium": PlanSpec("premium", 1080, 4, 3),
}

# ISO 4217 currency of each country sold in, and the digits after its decimal point.
CURRENCY_OF: dict[str, str] = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "FR": "EUR",
    "DE": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "BR": "BRL",
    "MX": "MXN",
}
MINOR_DIGITS: dict[str, int] = {"USD": 2, "CAD": 2, "GBP": 2, "EUR": 2, "BRL": 2, "MXN": 2}

# Monthly prices in minor units: (basic, standard, premium).
_PRICES: dict[str, tuple[int, int, int]] = {
    "US": (999, 1549, 2299),
    "CA": (999, 1699, 2099),
    "GB": (799, 1099, 1799),
    "FR": (1099, 1349, 1999),
    "DE": (799, 1399, 1999),
    "ES": (799, 1299, 1799),
    "IT": (799, 1299, 1799),
    "BR": (2590, 4490, 5990),
    "MX": (14900, 24900, 29900),
}
PRICES: dict[tuple[str, str], int] = {
    (country, plan): price
    for country, prices in _PRICES.items()
    for plan, price in zip(("basic", "standard", "premium"), prices, strict=True)
}


@dataclass(frozen=True, slots=True)
class Price:
    plan: PlanSpec
    country: str
    currency: str
    amount_minor: int

    def display(self) -> str:
        return display(self.amount_minor, self.currency)


def display(amount_minor: int, currency: str) -> str:
    """For people: 15.49 USD, -3.00 EUR."""
    digits = MINOR_DIGITS.get(currency, 2)
    whole, minor = divmod(abs(amount_minor), 10**digits)
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{whole}.{minor:0{digits}d} {currency}"


def plan(name: str) -> PlanSpec:
    found = PLANS.get(name)
    if found is None:
        raise BadRequestError(
            f"no plan {name!r}: choose one of {', '.join(PLANS)}", code="unknown_plan"
        )
    return found


def currency_for(country: str, currency: str = "") -> str:
    """The currency a member in `country` pays in; `currency`, when given, must be it."""
    sold = CURRENCY_OF.get(country)
    if sold is None:
        raise BadRequestError(f"membership is not sold in {country!r}", code="country_not_sold")
    if currency and currency != sold:
        raise BadRequestError(
            f"membership in {country} is sold in {sold}, not {currency!r}",
            code="currency_not_sold",
        )
    return sold


def price(country: str, plan_name: str, currency: str = "") -> Price:
    """The monthly price of a plan in a country (BadRequestError with a clear code for an
    unknown plan, a country not sold in, or another currency than the country's)."""
    spec = plan(plan_name)
    sold = currency_for(country, currency)
    return Price(spec, country, sold, PRICES[(country, spec.name)])


def prices(country: str) -> list[Price]:
    """Every plan in a country, smallest first."""
    currency_for(country)
    return [price(country, name) for name in sorted(PLANS, key=lambda n: PLANS[n].rank)]
