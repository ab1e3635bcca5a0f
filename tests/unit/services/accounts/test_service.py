import dataclasses

import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from reelcloud.platform import session_tokens
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthenticatedError,
)
from reelcloud.services.accounts.demo import DEMO_MEMBERS, DEMO_PASSWORD, seed_demo_members
from reelcloud.services.accounts.hashing import HashPool, Passwords
from reelcloud.services.accounts.models import Credentials, Login, NewMemberForm
from reelcloud.services.accounts.service import AccountsService
from reelcloud.services.accounts.throttle import TooManyAttemptsError

pytestmark = pytest.mark.asyncio

SECRET = "test-secret"
TTL_S = 3600
ADDRESS = "192.0.2.10"


class MemoryStore:
    """The service's store contract in memory (the SQL one is tested on PostgreSQL)."""

    def __init__(self):
        self.members = {}  # id -> Credentials
        self.profiles_ = {}
        self.devices_ = {}
        self.sessions = {}

    async def has_members(self):
        return bool(self.members)

    async def member(self, member_id):
        found = self.members.get(member_id)
        return found and found.member

    async def credentials(self, email):
        return next((found for found in self.members.values() if found.member.email == email), None)

    async def profile(self, member_id, profile_id):
        found = self.profiles_.get(profile_id)
        return found if found is not None and found.member_id == member_id else None

    async def device(self, member_id, device_id):
        found = self.devices_.get(device_id)
        return found if found is not None and found.member_id == member_id else None

    async def profiles(self, member_id):
        return sorted(
            (p for p in self.profiles_.values() if p.member_id == member_id), key=lambda p: p.id
        )

    async def devices(self, member_id):
        return sorted(
            (d for d in self.devices_.values() if d.member_id == member_id), key=lambda d: d.id
        )

    async def add_member(self, new, password_hash):
        if await self.credentials(new.member.email):
            return False
        self.members[new.member.id] = Credentials(new.member, password_hash, new.signup_key)
        self.profiles_.update({p.id: p for p in new.profiles})
        self.devices_.update({d.id: d for d in new.devices})
        return True

    async def activate(self, member_id):
        found = self.members.get(member_id)
        if found is None:
            return None
        if found.member.status == "pending":
            active = dataclasses.replace(found.member, status="active")
            self.members[member_id] = dataclasses.replace(found, member=active)
        return self.members[member_id].member

    async def delete_pending(self, member_id):
        found = self.members.get(member_id)
        if found is None or found.member.status != "pending":
            return False
        del self.members[member_id]
        return True

    async def open_session(self, session):
        self.sessions[session.id] = session

    async def session(self, member_id, session_id):
        found = self.sessions.get(session_id)
        return found if found is not None and found.member_id == member_id else None

    async def revoke_session(self, member_id, session_id):
        found = await self.session(member_id, session_id)
        if found is None or found.revoked_at is not None:
            return False
        self.sessions[session_id] = dataclasses.replace(found, revoked_at=1.0)
        return True


@pytest_asyncio.fixture
async def service(clock):
    pool = HashPool(workers=1, max_wait_s=5.0)
    passwords = Passwords(pool, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    await passwords.start()
    yield AccountsService(
        MemoryStore(), passwords, session_secret=SECRET, session_ttl_s=TTL_S, clock=clock
    )
    pool.close()


def signup(**overrides):
    form = {"email": "Zoe@Example.test", "password": "long enough", "name": "Zoe", "country": "ie"}
    return NewMemberForm.model_validate(form | overrides)


async def join(service, form):
    """A member created as the sign-up API creates one (pending), signed in."""
    return (await service.create_member(form))[0]


async def test_a_new_member_gets_two_profiles_three_devices_and_a_session(service, clock):
    signed_in = await join(service, signup(plan="basic"))
    member = signed_in.member
    assert (member.email, member.country, member.plan.name, member.plan.max_streams) == (
        "zoe@example.test", "IE", "basic", 1,
    )  # fmt: skip
    assert sorted(p.maturity for p in signed_in.profiles) == ["G", "R"]
    assert sorted(d.type for d in signed_in.devices) == ["browser", "phone", "tv"]
    assert {p.member_id for p in signed_in.profiles} == {member.id}
    claims = session_tokens.verify(SECRET, signed_in.token, now=clock.now())
    assert claims["sub"] == member.id
    assert signed_in.expires_at == int(clock.now()) + TTL_S
    await service.check_session(member.id, claims["sid"])
    details = await service.details(member.id, claims["sid"])
    assert details.member == member
    assert details.profiles == signed_in.profiles


async def test_an_email_has_one_account_whatever_its_case(service):
    await join(service, signup())
    with pytest.raises(ConflictError) as taken:
        await join(service, signup(email="ZOE@example.TEST", name="Other", password="not hers!"))
    assert taken.value.code == "email_taken"
    assert len(service.store.members) == 1


async def test_sign_in_needs_the_right_password_and_says_no_the_same_way_otherwise(service):
    created = await join(service, signup())
    again = await service.sign_in(Login(email="zoe@EXAMPLE.test", password="long enough"), ADDRESS)
    assert again.member.id == created.member.id
    assert again.token != created.token  # a session of its own
    for email, password in (("zoe@example.test", "wrong"), ("nobody@example.test", "long enough")):
        with pytest.raises(UnauthenticatedError) as refused:
            await service.sign_in(Login(email=email, password=password), ADDRESS)
        assert refused.value.code == "invalid_credentials"


async def test_a_session_ends_when_signed_out_or_expired(service, clock):
    first = await join(service, signup())
    member_id = first.member.id
    sid = session_tokens.verify(SECRET, first.token, now=clock.now())["sid"]
    await service.sign_out(member_id, sid)
    with pytest.raises(UnauthenticatedError) as revoked:
        await service.member(member_id, sid)
    assert revoked.value.code == "session_revoked"
    with pytest.raises(UnauthenticatedError):
        await service.sign_out(member_id, sid)  # once is enough

    second = await service.sign_in(Login(email="zoe@example.test", password="long enough"), ADDRESS)
    sid = session_tokens.verify(SECRET, second.token, now=clock.now())["sid"]
    assert (await service.member(member_id, sid)).id == member_id
    clock.advance(TTL_S)
    with pytest.raises(UnauthenticatedError) as expired:
        await service.member(member_id, sid)
    assert expired.value.code == "session_expired"
    with pytest.raises(UnauthenticatedError) as unknown:
        await service.details(member_id, "s-guess")
    assert unknown.value.code == "invalid_session"
    with pytest.raises(UnauthenticatedError) as without:  # a forged token names no session
        await service.member(member_id, "")
    assert without.value.code == "invalid_session"


async def test_another_members_profile_or_device_looks_like_no_profile_at_all(service):
    await seed_demo_members(service)
    assert (await service.profile("m-bruno", "p-bruno")).maturity == "R"
    assert (await service.device("m-chen", "d-chen-phone")).max_height == 720
    for member_id, profile_id in (("m-bruno", "p-alice"), ("m-bruno", "nope")):
        with pytest.raises(NotFoundError):
            await service.profile(member_id, profile_id)
    with pytest.raises(NotFoundError):
        await service.device("m-chen", "d-alice-tv")
    with pytest.raises(UnauthenticatedError):  # nobody has no session either
        await service.member("m-nobody", "s-guess")


async def test_ids_the_database_would_refuse_are_bad_requests(service):
    await seed_demo_members(service)
    calls = (
        service.member("m-alice\x00", "s-1"),
        service.member("m-alice", "s\x00"),
        service.profile("m-bruno", "p-bruno\x00"),
        service.device("m" * 200, "d-chen-tv"),
    )
    for call in calls:
        with pytest.raises(BadRequestError):
            await call


async def test_demo_members_are_seeded_once_and_sign_in_with_the_demo_password(service):
    assert await seed_demo_members(service) == len(DEMO_MEMBERS)
    assert await seed_demo_members(service) == 0
    dana = await service.sign_in(
        Login(email="dana@reelcloud.test", password=DEMO_PASSWORD), ADDRESS
    )
    assert (dana.member.id, dana.member.status) == ("m-dana", "on_hold")
    assert {p.id for p in dana.profiles} == {"p-dana", "p-dana-kids"}


async def test_wrong_passwords_are_throttled_per_account_and_address_not_locking_the_member_out(
    service, clock
):
    await join(service, signup())
    wrong = Login(email="zoe@example.test", password="not the password")
    refusals = []
    for _ in range(20):
        try:
            await service.sign_in(wrong, "198.51.100.7")
        except (UnauthenticatedError, TooManyAttemptsError) as exc:
            refusals.append(exc)
    throttled = [e for e in refusals if isinstance(e, TooManyAttemptsError)]
    assert len(throttled) == 15  # five guesses, then none until time passes
    assert throttled[0].status == 429
    assert throttled[0].retry_after_s >= 1
    # Even the right password waits on the guessing address; the member's own address does not.
    right = Login(email="zoe@example.test", password="long enough")
    with pytest.raises(TooManyAttemptsError):
        await service.sign_in(right, "198.51.100.7")
    assert (await service.sign_in(right, ADDRESS)).member.email == "zoe@example.test"
    clock.advance(throttled[-1].retry_after_s)
    assert (await service.sign_in(right, "198.51.100.7")).member.email == "zoe@example.test"


async def test_one_address_spraying_many_accounts_runs_out_of_its_wider_budget(service):
    refused = 0
    for n in range(80):
        try:
            await service.sign_in(
                Login(email=f"user{n}@example.test", password="guess"), "203.0.113.9"
            )
        except TooManyAttemptsError:
            refused += 1
        except UnauthenticatedError:
            pass
    assert refused == 30


async def test_a_sign_up_from_a_country_the_service_does_not_serve_is_refused(service):
    service.unserved_countries = frozenset({"KP"})
    with pytest.raises(BadRequestError) as refused:
        await join(service, signup(country="KP"))
    assert refused.value.code == "country_not_served"
    assert (await join(service, signup(country="IE"))).member.country == "IE"


async def test_a_pending_sign_up_resumes_with_its_own_password_and_is_taken_otherwise(service):
    first, resumed = await service.create_member(signup())
    assert (first.member.status, resumed) == ("pending", False)
    again, resumed = await service.create_member(signup())
    assert (again.member.id, resumed) == (first.member.id, True)
    with pytest.raises(ConflictError) as taken:
        await service.create_member(signup(password="another password"))
    assert taken.value.code == "email_taken"
    assert (await service.activate(first.member.id)).status == "active"
    with pytest.raises(ConflictError):  # an active member's sign-up is never resumed
        await service.create_member(signup())
    assert await service.delete_pending(first.member.id) is False
    assert len(service.store.members) == 1


async def test_the_same_sign_up_key_resumes_an_active_member_and_nothing_else_does(service):
    """A retried sign-up whose first answer was lost: its key and password find the member
    it made, though it is active by now; another key, or a wrong password, finds it taken."""
    first, _ = await service.create_member(signup(signup_key="k-1"))
    await service.activate(first.member.id)
    again, resumed = await service.create_member(signup(signup_key="k-1"))
    assert (again.member.id, again.member.status, resumed) == (first.member.id, "active", True)
    assert again.token != first.token  # a session of its own
    for other in (signup(signup_key="k-2"), signup(signup_key=""),
                  signup(signup_key="k-1", password="another password")):  # fmt: skip
        with pytest.raises(ConflictError) as taken:
            await service.create_member(other)
        assert taken.value.code == "email_taken"
    assert len(service.store.members) == 1


async def test_guessing_a_pending_members_password_by_signing_up_again_is_throttled(service):
    """Resuming a sign-up checks the password: guesses spend the sign-in budget, so signing up
    again is no way around the sign-in throttle."""
    first, _ = await service.create_member(signup())
    refusals = []
    for _ in range(8):
        try:
            await service.create_member(signup(password="a guess at it"), "198.51.100.7")
        except (ConflictError, TooManyAttemptsError) as exc:
            refusals.append(type(exc))
    assert refusals == [ConflictError] * 5 + [TooManyAttemptsError] * 3
    with pytest.raises(TooManyAttemptsError):  # the same budget: signing in waits too
        await service.sign_in(Login(email="zoe@example.test", password="long enough"),
                              "198.51.100.7")  # fmt: skip
    again, resumed = await service.create_member(signup(), ADDRESS)  # the member's own address
    assert (again.member.id, resumed) == (first.member.id, True)
