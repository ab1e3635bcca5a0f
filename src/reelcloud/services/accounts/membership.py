"""A member's plan and status follow billing: its events (through its outbox, each once, in
the order billing wrote them) say when a subscription started, changed plan, went on hold,
came back or ended, and accounts keeps what playback reads.

Billing writes a member's changes under that subscription's row lock, so the outbox's order
(the envelope's `seq`) is their order. Accounts keeps, per member, the seq of the last event
that set its plan and the last that set its status, and applies an event only when it is
newer: an event redelivered, replayed, or overtaken by a later one (the two subjects are
consumed apart) changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from reelcloud.platform.events.schema import (
    Envelope,
    EventPayload,
    MemberOnHold,
    MemberReactivated,
    SubscriptionChanged,
    SubscriptionEnded,
    SubscriptionStarted,
    decode,
)

log = logging.getLogger(__name__)

# What accounts consumes; every other billing event is none of its business.
SUBJECTS = ("events.member.>", "events.subscription.>")
BILLING = "billing"


@dataclass(frozen=True, slots=True)
class MemberChange:
    member_id: str
    plan: str | None = None
    status: str | None = None


def change_of(event: EventPayload) -> MemberChange | None:
    """What an event of billing's changes of the member, or None."""
    match event:
        case SubscriptionStarted(member_id=member, plan=plan):
            return MemberChange(member, plan=plan, status="active")
        case SubscriptionChanged(member_id=member, plan=plan):
            return MemberChange(member, plan=plan)
        case MemberOnHold(member_id=member):
            return MemberChange(member, status="on_hold")
        case MemberReactivated(member_id=member):
            return MemberChange(member, status="active")
        case SubscriptionEnded(member_id=member):
            return MemberChange(member, status="ended")
    return None


class MemberStates(Protocol):
    async def apply_billing(
        self, member_id: str, seq: int, *, plan: str | None, status: str | None
    ) -> bool:
        """Set what is newer than `seq`; False when the member is unknown here."""
        ...


class BillingFollower:
    """The handler of accounts' two event subscriptions."""

    def __init__(self, members: MemberStates) -> None:
        self._members = members
        self.applied = 0

    async def handle(self, envelope: Envelope) -> None:
        if envelope.producer != BILLING:
            return  # only billing decides a member's plan and status
        change = change_of(decode(envelope))
        if change is None:
            return
        applied = await self._members.apply_billing(
            change.member_id, envelope.seq, plan=change.plan, status=change.status
        )
        if not applied:
            # A sign-up billing refused after accounts deleted the pending member, or a
            # member created outside accounts: nothing to set.
            log.info("%s for unknown member %s ignored", envelope.type, change.member_id)
            return
        self.applied += 1
        log.info(
            "member %s: %s (plan %s, status %s)",
            change.member_id, envelope.type, change.plan or "-", change.status or "-",
        )  # fmt: skip
