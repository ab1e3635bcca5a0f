"""The accounts rules: signing up, in and out, sessions, and what the platform may ask of a
member. Framework-free: the store and the password pool are handed in, time is a Clock."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Protocol

from reelcloud.platform import session_tokens
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from reelcloud.platform.members import Device, Profile
from reelcloud.services.accounts.hashing import Passwords
from reelcloud.services.accounts.models import (
    Credentials,
    Login,
    Member,
    MemberDetails,
    NewMember,
    NewMemberForm,
    Session,
    SignedIn,
)
from reelcloud.services.accounts.throttle import SignInThrottle

log = logging.getLogger(__name__)

MAX_ID = 128


class MemberStore(Protocol):
    """What the service needs of its database (`store.AccountsStore`; fakes in unit tests)."""

    async def has_members(self) -> bool: ...
    async def member(self, member_id: str) -> Member | None: ...
    async def credentials(self, email: str) -> Credentials | None: ...
    async def profile(self, member_id: str, profile_id: str) -> Profile | None: ...
    async def device(self, member_id: str, device_id: str) -> Device | None: ...
    async def profiles(self, member_id: str) -> list[Profile]: ...
    async def devices(self, member_id: str) -> list[Device]: ...
    async def add_member(self, new: NewMember, password_hash: str) -> bool: ...
    async def activate(self, member_id: str) -> Member | None: ...
    async def delete_pending(self, member_id: str) -> bool: ...
    async def apply_billing(
        self, member_id: str, seq: int, *, plan: str | None, status: str | None
    ) -> bool: ...
    async def open_session(self, session: Session) -> None: ...
    async def session(self, member_id: str, session_id: str) -> Session | None: ...
    async def revoke_session(self, member_id: str, session_id: str) -> bool: ...


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def _checked_id(value: str, what: str) -> str:
    """Ids from other services (gRPC): anything PostgreSQL would refuse is a bad request."""
    if len(value) > MAX_ID or "\x00" in value:
        raise BadRequestError(f"{what} is not an id")
    return value


def starter_profiles(member_id: str, name: str) -> list[Profile]:
    return [
        Profile(id=new_id("p"), member_id=member_id, name=name, maturity="R"),
        Profile(id=new_id("p"), member_id=member_id, name="Kids", maturity="G"),
    ]


def starter_devices(member_id: str) -> list[Device]:
    return [
        Device(id=new_id("d"), member_id=member_id, type=kind, max_height=height, drm="aes-128")
        for kind, height in (("browser", 1080), ("tv", 2160), ("phone", 720))
    ]


class AccountsService:
    def __init__(
        self,
        store: MemberStore,
        passwords: Passwords,
        *,
        session_secret: str,
        session_ttl_s: int,
        revoke_session: Callable[[str], Awaitable[None]] | None = None,
        unserved_countries: frozenset[str] = frozenset(),
        clock: Clock | None = None,
    ) -> None:
        """`revoke_session`: tells every instance that checks sessions that one was signed
        out (platform.revocations); the database's revocation stands without it."""
        self.store = store
        self.passwords = passwords
        self.session_secret = session_secret
        self.session_ttl_s = session_ttl_s
        self.clock = clock or SystemClock()
        self.throttle = SignInThrottle(self.clock)
        self.revoke_session = revoke_session
        self.unserved_countries = unserved_countries

    # ---- signing up (the sign-up API, over gRPC) --------------------------------------------

    async def create_member(
        self, form: NewMemberForm, client_address: str = "unknown"
    ) -> tuple[SignedIn, bool]:
        """A pending member, signed in; or this email's member when the password is its own
        and its sign-up is unfinished, or is this very sign-up (the same key: a retry whose
        first answer was lost) — resumed: True. That checks the password, so wrong ones are
        throttled as sign-ins are, in the same budget."""
        country = form.country.upper()
        if country in self.unserved_countries:
            raise BadRequestError(
                f"the service is not offered in {country}", code="country_not_served"
            )
        email = form.email.lower()
        found = await self.store.credentials(email)
        if found is not None:
            member = found.member
            same_signup = form.signup_key != "" and form.signup_key == found.signup_key
            if member.status == "pending" or same_signup:
                self.throttle.check(email, client_address)
                if await self.passwords.matches(found.password_hash, form.password):
                    self.throttle.succeeded(email, client_address)
                    log.info("member %s resumes signing up", member.id)
                    return await self._signed_in(member), True
                self.throttle.failed(email, client_address)
            raise ConflictError("that email already has an account", code="email_taken")
        member_id = new_id("m")
        member = Member(member_id, email, form.name, country, form.plan, status="pending")
        new = NewMember(
            member, starter_profiles(member_id, form.name), starter_devices(member_id),
            signup_key=form.signup_key,
        )  # fmt: skip
        await self.add_member(new, form.password)
        log.info("member %s is signing up (%s, %s)", member_id, country, form.plan)
        return await self._signed_in(member), False

    async def activate(self, member_id: str) -> Member:
        member = await self.store.activate(_checked_id(member_id, "member_id"))
        if member is None:
            raise NotFoundError("no such member")
        return member

    async def delete_pending(self, member_id: str) -> bool:
        deleted = await self.store.delete_pending(_checked_id(member_id, "member_id"))
        if deleted:
            log.info("pending member %s deleted: billing refused the sign-up", member_id)
        return deleted

    # ---- members over HTTP ----------------------------------------------------------------

    async def add_member(self, new: NewMember, password: str) -> None:
        """ConflictError when the email already has an account (nothing is written then)."""
        if not await self.store.add_member(new, await self.passwords.hash(password)):
            raise ConflictError("that email already has an account", code="email_taken")

    async def sign_in(self, credentials: Login, client_address: str) -> SignedIn:
        email = credentials.email.lower()
        self.throttle.check(email, client_address)
        found = await self.store.credentials(email)
        stored_hash = found.password_hash if found is not None else None
        # Checked even when the email is unknown, so both refusals take the same time.
        if found is None or not await self.passwords.matches(stored_hash, credentials.password):
            self.throttle.failed(email, client_address)
            raise UnauthenticatedError("wrong email or password", code="invalid_credentials")
        self.throttle.succeeded(email, client_address)
        return await self._signed_in(found.member)

    async def sign_out(self, member_id: str, session_id: str) -> None:
        await self.check_session(member_id, session_id)
        await self.store.revoke_session(member_id, session_id)
        if self.revoke_session is not None:
            try:
                await self.revoke_session(session_id)
            except UnavailableError as exc:  # the database holds it: plays are refused anyway
                log.warning("session %s signed out but not shared at once: %s", session_id, exc)
        log.info("member %s signed out (session %s)", member_id, session_id)

    async def details(self, member_id: str, session_id: str) -> MemberDetails:
        await self.check_session(member_id, session_id)
        member = await self._member(member_id)
        return MemberDetails(
            member=member.view(),
            profiles=await self.store.profiles(member_id),
            devices=await self.store.devices(member_id),
        )

    async def _signed_in(self, member: Member) -> SignedIn:
        """A new session for the member, and its token."""
        now = self.clock.now()
        session = Session(new_id("s"), member.id, now + self.session_ttl_s)
        await self.store.open_session(session)
        token = session_tokens.issue(
            self.session_secret,
            member.id,
            session_id=session.id,
            ttl_s=self.session_ttl_s,
            now=now,
        )
        log.info("member %s signed in (session %s)", member.id, session.id)
        return SignedIn(
            token=token,
            expires_at=int(session.expires_at),
            member=member.view(),
            profiles=await self.store.profiles(member.id),
            devices=await self.store.devices(member.id),
        )

    # ---- what the platform asks (gRPC) -----------------------------------------------------

    async def check_session(self, member_id: str, session_id: str) -> None:
        session = await self.store.session(
            _checked_id(member_id, "member_id"), _checked_id(session_id, "session_id")
        )
        if session is None:
            raise UnauthenticatedError("no such session", code="invalid_session")
        if session.revoked_at is not None:
            raise UnauthenticatedError("this session was signed out", code="session_revoked")
        if session.expires_at <= self.clock.now():
            raise UnauthenticatedError("this session has expired", code="session_expired")

    async def member(self, member_id: str, session_id: str) -> Member:
        """The member, only while that session of theirs is valid: a token without a session
        (forged, or from before sessions) gets nothing."""
        await self.check_session(member_id, session_id)
        return await self._member(member_id)

    async def _member(self, member_id: str) -> Member:
        member = await self.store.member(_checked_id(member_id, "member_id"))
        if member is None:
            raise NotFoundError("no such member")
        return member

    async def profile(self, member_id: str, profile_id: str) -> Profile:
        profile = await self.store.profile(
            _checked_id(member_id, "member_id"), _checked_id(profile_id, "profile_id")
        )
        if profile is None:  # someone else's looks the same as nobody's
            raise NotFoundError("no such profile for this member")
        return profile

    async def device(self, member_id: str, device_id: str) -> Device:
        device = await self.store.device(
            _checked_id(member_id, "member_id"), _checked_id(device_id, "device_id")
        )
        if device is None:
            raise NotFoundError("no such device for this member")
        return device
