import pytest

from reelcloud.services.payments.cards import (
    Behaviour,
    behaviour_of,
    brand_of,
    card_number,
    luhn_valid,
)


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005"])
def test_known_good_numbers_pass_luhn(number):
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["4242424242424241", "", "42424242424242a2", "\uff14\uff12\uff14\uff12"]
)
def test_bad_numbers_fail_luhn(number):
    assert not luhn_valid(number)


@pytest.mark.parametrize("behaviour", list(Behaviour))
def test_every_behaviour_has_many_distinct_valid_cards(behaviour):
    numbers = {card_number(behaviour, serial) for serial in range(50)}
    assert len(numbers) == 50
    assert all(luhn_valid(n) and len(n) == 16 for n in numbers)
    assert {behaviour_of(n) for n in numbers} == {behaviour}


def test_an_unknown_prefix_approves_and_brands_are_read_from_the_number():
    assert behaviour_of("5555555555554444") is Behaviour.APPROVE
    assert brand_of("4242424242424242") == "visa"
    assert brand_of("5555555555554444") == "mastercard"
    assert brand_of("378282246310005") == "amex"
