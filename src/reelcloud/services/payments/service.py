"""The card processor's rules: tokenise a card, charge it once per idempotency key, confirm a
second step, refund, and answer what happened to a key. Framework-free; the store and the
wait of a slow answer are handed in.

Idempotency is Stripe's: the first request with a key decides; the same key with the same
body answers that first outcome again, whatever it was; the same key with another body is
refused (409 idempotency_key_reused). Nothing here ever makes a second charge for one key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    ReelcloudError,
)
from reelcloud.services.payments.cards import Behaviour, behaviour_of, brand_of, luhn_valid
from reelcloud.services.payments.models import (
    IDEMPOTENCY_KEY,
    Charge,
    NewCharge,
    NewPaymentMethod,
    NewRefund,
    PaymentMethod,
    Refund,
)
from reelcloud.services.payments.store import KeyTakenError, ProcessorStore, new_id

log = logging.getLogger(__name__)


class ProcessorFailedError(ReelcloudError):
    """The error card's first answer: a 500, before anything was charged."""

    status = 500
    code = "processor_error"


def checked_key(key: str | None) -> str:
    if not key:
        raise BadRequestError(
            "an Idempotency-Key header is required", code="idempotency_key_required"
        )
    if not IDEMPOTENCY_KEY.match(key):
        raise BadRequestError(
            "Idempotency-Key must be 1-200 of A-Z a-z 0-9 _ . : / -", code="bad_idempotency_key"
        )
    return key


def request_hash(body: object) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ProcessorService:
    def __init__(
        self,
        store: ProcessorStore,
        *,
        slow_response: Callable[[], Awaitable[None]],
        clock: Clock | None = None,
    ) -> None:
        """`slow_response`: how the timeout card's answer is held back (after its charge was
        made), so billing's command times out and must find out later."""
        self.store = store
        self.slow_response = slow_response
        self.clock = clock or SystemClock()
        self._salt = store.fingerprint_salt().encode()

    def _fingerprint(self, number: str) -> str:
        return "fp_" + hmac.new(self._salt, number.encode(), hashlib.sha256).hexdigest()[:24]

    # ---- payment methods --------------------------------------------------------------------

    def add_payment_method(self, card: NewPaymentMethod) -> PaymentMethod:
        if not luhn_valid(card.number):
            raise BadRequestError("the card number is not valid", code="invalid_number")
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            # Saved cards are charged later (a trial's end): one already expired never works.
            raise BadRequestError("the card has expired", code="invalid_expiry")
        method = PaymentMethod(
            id=new_id("pm"),
            fingerprint=self._fingerprint(card.number),
            brand=brand_of(card.number),
            last4=card.number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
        self.store.add_payment_method(method, behaviour_of(card.number).value, self.clock.now())
        return method

    def _method(self, method_id: str) -> tuple[PaymentMethod, Behaviour]:
        found = self.store.payment_method(method_id)
        if found is None:
            raise BadRequestError("no such payment method", code="no_such_payment_method")
        return found[0], Behaviour(found[1])

    # ---- charges ----------------------------------------------------------------------------

    async def charge(self, key: str, body: NewCharge) -> Charge:
        digest = request_hash(body.model_dump(mode="json"))
        existing = self.store.charge_by_key(key)
        if existing is not None:
            return self._replayed(existing, digest)
        method, behaviour = self._method(body.payment_method)
        if behaviour is Behaviour.ERROR and self.store.first_failure(key):
            log.info("charge %s: the error card answers 500, nothing charged", key)
            raise ProcessorFailedError("the processor failed; nothing was charged")
        status, decline_code = self._decide(method, behaviour, body.off_session)
        try:
            charge = self.store.add_charge(
                {
                    "id": new_id("ch"),
                    "idempotency_key": key,
                    "request_hash": digest,
                    "payment_method": method.id,
                    "fingerprint": method.fingerprint,
                    "amount": body.amount,
                    "currency": body.currency,
                    "status": status,
                    "decline_code": decline_code,
                    "off_session": int(body.off_session),
                    "metadata": body.metadata,
                    "created": self.clock.now(),
                }
            )
        except KeyTakenError:  # another process on the same file won the key: its outcome
            existing = self.store.charge_by_key(key)
            assert existing is not None
            return self._replayed(existing, digest)
        log.info("charge %s %s: %s %s %s", charge.id, key, status, body.amount, body.currency)
        if behaviour is Behaviour.TIMEOUT:
            await self.slow_response()
        return charge

    def _replayed(self, existing: tuple[Charge, str], digest: str) -> Charge:
        charge, first_digest = existing
        if first_digest != digest:
            raise ConflictError(
                "this idempotency key was used for another request",
                code="idempotency_key_reused",
            )
        return charge

    def _decide(
        self, method: PaymentMethod, behaviour: Behaviour, off_session: bool
    ) -> tuple[str, str]:
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        if (method.exp_year, method.exp_month) < (now.year, now.month):
            return "declined", "expired_card"
        if behaviour in (
            Behaviour.INSUFFICIENT_FUNDS,
            Behaviour.EXPIRED_CARD,
            Behaviour.STOLEN_CARD,
        ):
            return "declined", behaviour.value
        if behaviour is Behaviour.REQUIRES_ACTION:
            # Nobody is there to pass the second step of a renewal.
            return (
                ("declined", "authentication_required")
                if off_session
                else (
                    "requires_action",
                    "",
                )
            )
        return "succeeded", ""

    def find_charge(self, key: str) -> Charge:
        found = self.store.charge_by_key(key)
        if found is None:
            raise NotFoundError(
                "no charge was made with this idempotency key", code="no_such_charge"
            )
        return found[0]

    def get_charge(self, charge_id: str) -> Charge:
        charge = self.store.charge(charge_id)
        if charge is None:
            raise NotFoundError("no such charge", code="no_such_charge")
        return charge

    def confirm(self, charge_id: str) -> Charge:
        """The member passed the second step: the charge succeeds. Confirming again answers
        the same; only a charge waiting for its second step can be confirmed."""
        charge = self.get_charge(charge_id)
        if charge.status == "succeeded":
            return charge
        if charge.status != "requires_action":
            raise BadRequestError(
                f"a {charge.status} charge has no second step", code="charge_not_confirmable"
            )
        confirmed = self.store.set_status(charge_id, "succeeded")
        assert confirmed is not None
        log.info("charge %s confirmed", charge_id)
        return confirmed

    def charges(self, after: int, limit: int) -> list[Charge]:
        return self.store.charges(after, limit)

    # ---- refunds ----------------------------------------------------------------------------

    def refund(self, key: str, body: NewRefund) -> Refund:
        digest = request_hash(body.model_dump(mode="json"))
        existing = self.store.refund_by_key(key)
        if existing is None:
            charge = self.get_charge(body.charge)
            if charge.status != "succeeded":
                raise BadRequestError(
                    f"a {charge.status} charge cannot be refunded", code="charge_not_refundable"
                )
            try:
                refund = self.store.add_refund(
                    {
                        "id": new_id("re"),
                        "idempotency_key": key,
                        "request_hash": digest,
                        "charge": charge.id,
                        "amount": body.amount,
                        "currency": charge.currency,
                        "created": self.clock.now(),
                    },
                    most=charge.amount,
                )
            except KeyTakenError:
                existing = self.store.refund_by_key(key)
            else:
                if refund is None:
                    raise BadRequestError(
                        f"the charge has less than {body.amount} left to refund",
                        code="refund_exceeds_charge",
                    )
                log.info("refund %s of %s: %s", refund.id, charge.id, refund.amount)
                return refund
        assert existing is not None
        refund, first_digest = existing
        if first_digest != digest:
            raise ConflictError(
                "this idempotency key was used for another request",
                code="idempotency_key_reused",
            )
        return refund

    def find_refund(self, key: str) -> Refund:
        found = self.store.refund_by_key(key)
        if found is None:
            raise NotFoundError(
                "no refund was made with this idempotency key", code="no_such_refund"
            )
        return found[0]

    def refunds(self, after: int, limit: int) -> list[Refund]:
        return self.store.refunds(after, limit)
