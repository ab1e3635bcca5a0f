"""The processor's rules on its real SQLite store, with a fake clock and a slow answer that
only records that it was made to wait."""

from datetime import UTC, datetime

import pytest

from reelcloud.platform.errors import BadRequestError, ConflictError, NotFoundError
from reelcloud.services.payments.cards import Behaviour, card_number
from reelcloud.services.payments.models import NewCharge, NewPaymentMethod, NewRefund
from reelcloud.services.payments.service import ProcessorFailedError, ProcessorService
from reelcloud.services.payments.store import ProcessorStore

pytestmark = pytest.mark.asyncio


@pytest.fixture
def processor(tmp_path, clock):
    store = ProcessorStore(tmp_path / "processor.sqlite3")
    waits = []

    async def slow_response():
        waits.append(True)

    service = ProcessorService(store, slow_response=slow_response, clock=clock)
    service.waits = waits
    yield service
    store.close()


def method(processor, behaviour=Behaviour.APPROVE, serial=1, exp_year=2099):
    return processor.add_payment_method(
        NewPaymentMethod(
            number=card_number(behaviour, serial), exp_month=12, exp_year=exp_year, cvc="123"
        )
    )


def charge_of(pm, amount=1549, off_session=False):
    return NewCharge(
        payment_method=pm.id,
        amount=amount,
        currency="USD",
        off_session=off_session,
        metadata={"invoice_id": "in_1"},
    )


async def test_one_card_one_fingerprint_and_no_number_kept(processor, tmp_path):
    first, again = method(processor, serial=7), method(processor, serial=7)
    other = method(processor, serial=8)
    assert first.id != again.id
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert (first.brand, first.last4) == ("visa", card_number(Behaviour.APPROVE, 7)[-4:])
    assert (
        card_number(Behaviour.APPROVE, 7).encode()
        not in (tmp_path / "processor.sqlite3").read_bytes()
    )


async def test_an_invalid_number_is_refused(processor):
    with pytest.raises(BadRequestError) as caught:
        processor.add_payment_method(
            NewPaymentMethod(number="4242424242424241", exp_month=1, exp_year=2099, cvc="123")
        )
    assert caught.value.code == "invalid_number"


@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (Behaviour.APPROVE, "succeeded", ""),
        (Behaviour.INSUFFICIENT_FUNDS, "declined", "insufficient_funds"),
        (Behaviour.EXPIRED_CARD, "declined", "expired_card"),
        (Behaviour.STOLEN_CARD, "declined", "stolen_card"),
        (Behaviour.REQUIRES_ACTION, "requires_action", ""),
    ],
)
async def test_the_card_number_decides_the_outcome(processor, behaviour, status, code):
    charge = await processor.charge("k1", charge_of(method(processor, behaviour)))
    assert (charge.status, charge.decline_code) == (status, code)
    assert processor.find_charge("k1") == charge


async def test_a_second_step_cannot_be_passed_off_session(processor):
    pm = method(processor, Behaviour.REQUIRES_ACTION)
    renewal = await processor.charge("k-off", charge_of(pm, off_session=True))
    assert (renewal.status, renewal.decline_code) == ("declined", "authentication_required")
    waiting = await processor.charge("k-on", charge_of(pm))
    confirmed = processor.confirm(waiting.id)
    assert confirmed.status == "succeeded"
    assert processor.confirm(waiting.id) == confirmed  # confirming again answers the same
    with pytest.raises(BadRequestError):
        processor.confirm(renewal.id)


async def test_an_expired_card_is_refused_and_one_that_expires_later_is_declined(processor, clock):
    now = datetime.fromtimestamp(clock.now(), UTC)  # 2023-11
    with pytest.raises(BadRequestError) as refused:
        method(processor, exp_year=now.year - 1)
    assert refused.value.code == "invalid_expiry"
    saved = processor.add_payment_method(
        NewPaymentMethod(
            number=card_number(Behaviour.APPROVE, 7), exp_month=now.month, exp_year=now.year,
            cvc="123",
        )
    )  # fmt: skip
    assert (await processor.charge("k1", charge_of(saved))).status == "succeeded"
    clock.advance(62 * 86_400)  # past the end of its last month
    charge = await processor.charge("k2", charge_of(saved))
    assert (charge.status, charge.decline_code) == ("declined", "expired_card")


async def test_one_key_is_one_charge_whatever_is_sent_again(processor):
    pm = method(processor)
    first = await processor.charge("k1", charge_of(pm))
    assert await processor.charge("k1", charge_of(pm)) == first
    with pytest.raises(ConflictError) as caught:
        await processor.charge("k1", charge_of(pm, amount=1))
    assert caught.value.code == "idempotency_key_reused"
    assert [c.id for c in processor.charges(0, 100)] == [first.id]


async def test_the_timeout_card_charges_then_answers_late(processor):
    charge = await processor.charge("k1", charge_of(method(processor, Behaviour.TIMEOUT)))
    assert charge.status == "succeeded"
    assert processor.waits == [True]
    # Looking the key up answers at once: how a caller that gave up finds out.
    assert processor.find_charge("k1").status == "succeeded"


async def test_the_error_card_fails_before_charging_then_approves_the_same_key(processor):
    pm = method(processor, Behaviour.ERROR)
    with pytest.raises(ProcessorFailedError):
        await processor.charge("k1", charge_of(pm))
    with pytest.raises(NotFoundError):
        processor.find_charge("k1")  # nothing was made
    assert (await processor.charge("k1", charge_of(pm))).status == "succeeded"
    assert len(processor.charges(0, 100)) == 1


async def test_refunds_never_exceed_the_charge_and_are_once_per_key(processor):
    charge = await processor.charge("k1", charge_of(method(processor), amount=1000))
    first = processor.refund("r1", NewRefund(charge=charge.id, amount=600))
    assert processor.refund("r1", NewRefund(charge=charge.id, amount=600)) == first
    with pytest.raises(ConflictError):
        processor.refund("r1", NewRefund(charge=charge.id, amount=100))
    with pytest.raises(BadRequestError) as caught:
        processor.refund("r2", NewRefund(charge=charge.id, amount=401))
    assert caught.value.code == "refund_exceeds_charge"
    processor.refund("r3", NewRefund(charge=charge.id, amount=400))
    assert processor.get_charge(charge.id).refunded == 1000
    assert processor.find_refund("r3").amount == 400


async def test_a_declined_charge_cannot_be_refunded(processor):
    charge = await processor.charge("k1", charge_of(method(processor, Behaviour.STOLEN_CARD)))
    with pytest.raises(BadRequestError) as caught:
        processor.refund("r1", NewRefund(charge=charge.id, amount=1))
    assert caught.value.code == "charge_not_refundable"
