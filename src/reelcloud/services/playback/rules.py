"""The playback decision, as a pure function of the facts the Play API gathered."""

from __future__ import annotations

from dataclasses import dataclass

# Ratings from the widest audience to the narrowest; a profile may watch up to its own.
MATURITY = ("G", "PG", "PG-13", "R")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    message: str = ""
    rungs: tuple[str, ...] = ()


def rank(rating: str) -> int:
    """Unknown ratings count as the most restricted (a title) / least allowed (a profile)."""
    return MATURITY.index(rating) if rating in MATURITY else len(MATURITY)


# A member whose status is not active (accounts: pending, on_hold, ended) plays nothing; each
# is told why and what to do. An unknown status is refused as on hold.
_NOT_PLAYING = {
    "on_hold": ("plan_on_hold", "Your membership is on hold: update your payment."),
    "pending": ("membership_incomplete", "Finish signing up: your first payment is not made."),
    "ended": ("membership_ended", "Your membership has ended: rejoin to watch."),
}


def decide(
    *,
    status: str,
    licensed: bool,
    country: str,
    title_maturity: str,
    profile_maturity: str,
    plan_max_height: int,
    device_max_height: int,
    rungs: list[tuple[str, int]],
) -> Decision:
    """Everything but the stream count (which needs the database)."""
    if status != "active":
        code, message = _NOT_PLAYING.get(status, _NOT_PLAYING["on_hold"])
        return Decision(False, code, message)
    if not licensed:
        return Decision(False, "not_licensed", f"This title is not available in {country} now.")
    if rank(title_maturity) > rank(profile_maturity) or profile_maturity not in MATURITY:
        return Decision(
            False, "maturity", f"This profile cannot watch titles rated {title_maturity}."
        )
    if not rungs:
        return Decision(False, "no_renditions", "This title has no renditions to play.")
    limit = min(plan_max_height, device_max_height)
    ordered = sorted(rungs, key=lambda r: r[1])
    allowed = [name for name, height in ordered if height <= limit] or [ordered[0][0]]
    return Decision(True, rungs=tuple(allowed))
