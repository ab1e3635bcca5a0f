"""The card processor as billing sees it: HTTP to the payments process at a URL from the
options, every call a resilience command (`payments`: its timeout, breaker and bulkhead).

A charge's outcome is what the processor answered, or `unknown` when no answer came (a
timeout, a 5xx, a refused connection, an open breaker): then the charge may or may not have
been made, and only looking its idempotency key up later can tell. Nothing here retries a
charge; the service reconciles.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from reelcloud.platform.credentials import ADMIN_USER, basic_authorization
from reelcloud.platform.errors import (
    BadRequestError,
    CommandError,
    NotFoundError,
    RequestError,
    UnavailableError,
)
from reelcloud.platform.resilience import CommandRunner
from reelcloud.services.billing.models import UNKNOWN, Card, ChargeOutcome, PaymentMethod

log = logging.getLogger(__name__)

COMMAND = "payments"
# Tokenising a card moves no money and a member waits for it: it gets its own, longer timeout
# rather than the one after which a charge's outcome counts as unknown.
TOKENIZE_COMMAND = "payments-tokenize"


class ProcessorAnswerError(UnavailableError):
    """The processor answered something that is not an outcome (a 5xx, or no JSON)."""

    code = "payments_unavailable"


class ProcessorClient:
    def __init__(
        self,
        base_url: str,
        admin_password: str,
        commands: CommandRunner,
        *,
        timeout_ms: int,
        max_concurrent: int,
        tokenize_timeout_ms: int = 5000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.commands = commands
        self._auth = basic_authorization(ADMIN_USER, admin_password)
        self._http: aiohttp.ClientSession | None = None
        commands.config.set_command(COMMAND, timeout_ms=timeout_ms)
        commands.config.set_group(COMMAND, max_concurrent=max_concurrent)
        commands.config.set_command(TOKENIZE_COMMAND, timeout_ms=tokenize_timeout_ms)
        commands.config.set_group(TOKENIZE_COMMAND, max_concurrent=max_concurrent)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            headers={"Authorization": self._auth},
            connector=aiohttp.TCPConnector(limit=0),
            # The command's timeout is the one that counts; this only bounds a stuck socket.
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = None,
        command: str = COMMAND,
    ) -> dict[str, Any]:
        """One call as a command: the JSON of a 2xx; the processor's 4xx as a RequestError
        with its code (not counted against the breaker); anything else raises to the runner."""
        assert self._http is not None, "start() first"
        http = self._http

        async def call() -> dict[str, Any]:
            headers = {"Idempotency-Key": key} if key else None
            async with http.request(
                method, self.base_url + path, json=body, headers=headers
            ) as reply:
                try:
                    data = await reply.json(content_type=None)
                except ValueError as exc:
                    raise ProcessorAnswerError(
                        f"payments answered {reply.status}, not JSON"
                    ) from exc
                if reply.status < 300 and isinstance(data, dict):
                    return data
                error = data.get("error", {}) if isinstance(data, dict) else {}
                code, message = error.get("code", "refused"), error.get("message", "")
                if reply.status == 404:
                    raise NotFoundError(message or "not found", code=code)
                if 400 <= reply.status < 500:
                    raise BadRequestError(message or "refused", code=code)
                raise ProcessorAnswerError(f"payments answered {reply.status} {code}")

        return await self.commands.execute(command, call)

    # ---- payment methods --------------------------------------------------------------------

    async def tokenize(self, member_id: str, card: Card) -> PaymentMethod:
        """BadRequestError(invalid_card) for a card the processor refuses; UnavailableError
        (payments_unavailable) when it cannot be asked."""
        body = {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        }
        try:
            data = await self._request(
                "POST", "/v1/payment_methods", body, command=TOKENIZE_COMMAND
            )
        except RequestError as exc:
            raise BadRequestError(
                f"the card was refused: {exc.message}", code="invalid_card"
            ) from exc
        except (CommandError, UnavailableError) as exc:
            raise UnavailableError(
                "the card processor cannot be reached; try again shortly",
                code="payments_unavailable",
            ) from exc
        return PaymentMethod(
            id=data["id"],
            member_id=member_id,
            fingerprint=data["fingerprint"],
            brand=data["brand"],
            last4=data["last4"],
            exp_month=data["exp_month"],
            exp_year=data["exp_year"],
        )

    # ---- charges ----------------------------------------------------------------------------

    @staticmethod
    def _outcome(data: dict[str, Any]) -> ChargeOutcome:
        return ChargeOutcome(data["status"], data.get("decline_code", ""), data["id"])

    async def charge(self, key: str, body: dict[str, Any]) -> ChargeOutcome:
        """The outcome; UNKNOWN when none was heard. A refusal of the request itself (no such
        payment method there) is a decline: that card cannot pay."""
        try:
            return self._outcome(await self._request("POST", "/v1/charges", body, key))
        except RequestError as exc:
            if exc.code == "idempotency_key_reused":
                # Our own key with another body: a bug here, never a reason to charge again.
                log.error("charge %s: the processor holds another request under this key", key)
                return UNKNOWN
            return ChargeOutcome("declined", exc.code)
        except (CommandError, UnavailableError) as exc:
            log.warning("charge %s: no outcome heard (%s)", key, exc)
            return UNKNOWN

    async def find_charge(self, key: str) -> ChargeOutcome | None:
        """What the processor did with this key: None when it never made a charge for it,
        UNKNOWN when it cannot be asked now."""
        try:
            data = await self._request("GET", f"/v1/charges?idempotency_key={_quoted(key)}")
        except NotFoundError:
            return None
        except RequestError as exc:
            log.error("looking up charge %s refused: %s", key, exc)
            return UNKNOWN
        except (CommandError, UnavailableError):
            return UNKNOWN
        return self._outcome(data)

    async def confirm(self, charge_id: str) -> ChargeOutcome:
        try:
            return self._outcome(await self._request("POST", f"/v1/charges/{charge_id}/confirm"))
        except RequestError as exc:
            return ChargeOutcome("declined", exc.code, charge_id)
        except (CommandError, UnavailableError):
            return UNKNOWN

    # ---- refunds ----------------------------------------------------------------------------

    async def refund(self, key: str, charge_id: str, amount: int) -> str | None:
        """The outcome of a refund: "succeeded", "failed" (refused), or None (never heard)."""
        try:
            await self._request("POST", "/v1/refunds", {"charge": charge_id, "amount": amount}, key)
        except RequestError as exc:
            log.error("refund %s refused: %s", key, exc)
            return "failed"
        except (CommandError, UnavailableError):
            return None
        return "succeeded"

    async def find_refund(self, key: str) -> str | None:
        """ "succeeded" when the processor made it, "missing" when it never did, None when it
        cannot be asked now."""
        try:
            await self._request("GET", f"/v1/refunds?idempotency_key={_quoted(key)}")
        except NotFoundError:
            return "missing"
        except (RequestError, CommandError, UnavailableError):
            return None
        return "succeeded"


def _quoted(key: str) -> str:
    return quote(key, safe="")
