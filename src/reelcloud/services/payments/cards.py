"""Test cards: what a charge on a card does is chosen by its number, as with a processor's
sandbox. The first eight digits pick the behaviour, so any number of distinct cards (distinct
fingerprints) share one behaviour; every number must pass the Luhn check.

    prefix     behaviour
    42424242   approve (any other valid number approves too)
    40000099   decline: insufficient_funds
    40000069   decline: expired_card
    40000079   decline: stolen_card
    40000031   ask for a second step (3-D Secure): requires_action; off-session, declined
               authentication_required
    40000041   time out: the charge is made, the answer comes only after `slow_response_s`
    40000050   answer 500 the first time a key is seen, before charging; approve on a retry
               with the same idempotency key
"""

from __future__ import annotations

import enum


class Behaviour(enum.StrEnum):
    APPROVE = "approve"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    STOLEN_CARD = "stolen_card"
    REQUIRES_ACTION = "requires_action"
    TIMEOUT = "timeout"
    ERROR = "error"


PREFIXES: dict[str, Behaviour] = {
    "42424242": Behaviour.APPROVE,
    "40000099": Behaviour.INSUFFICIENT_FUNDS,
    "40000069": Behaviour.EXPIRED_CARD,
    "40000079": Behaviour.STOLEN_CARD,
    "40000031": Behaviour.REQUIRES_ACTION,
    "40000041": Behaviour.TIMEOUT,
    "40000050": Behaviour.ERROR,
}
PREFIX_OF: dict[Behaviour, str] = {behaviour: prefix for prefix, behaviour in PREFIXES.items()}
DECLINES = frozenset({Behaviour.INSUFFICIENT_FUNDS, Behaviour.EXPIRED_CARD, Behaviour.STOLEN_CARD})


def luhn_valid(number: str) -> bool:
    if not number.isascii() or not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def with_check_digit(partial: str) -> str:
    """`partial` followed by the digit that makes it pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return partial + digit
    raise AssertionError("unreachable: one of ten digits always completes a Luhn number")


def card_number(behaviour: Behaviour, serial: int = 0) -> str:
    """A valid 16-digit test card of `behaviour`; each serial is another card."""
    if not 0 <= serial < 10**7:
        raise ValueError("serial must have at most 7 digits")
    return with_check_digit(f"{PREFIX_OF[behaviour]}{serial:07d}")


def behaviour_of(number: str) -> Behaviour:
    return PREFIXES.get(number[:8], Behaviour.APPROVE)


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"
