"""The catalog's data: the bodies of its browse routes, cache control's availability as the
catalog reads it, and its domain records. Errors are `platform.errors` bodies; the asset
manifest is `platform.assets.AssetManifest`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reelcloud.platform.assets import AssetFile
from reelcloud.platform.countries import is_country
from reelcloud.platform.validation import Text

# "available": some fresh, healthy OCA holds every file a play needs; "coming_soon": listed, not
# playable yet (being filled, or its OCAs are away). Listed as available means playable.
Availability = Literal["available", "coming_soon"]
AVAILABLE: Availability = "available"
COMING_SOON: Availability = "coming_soon"


# ---- GET /api/catalog/titles[/{id}] ------------------------------------------------------------


def _country_or_none(value: str) -> str:
    code = value.upper()
    if code and not is_country(code):
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or IE")
    return code


class BrowseQuery(BaseModel):
    """The query parameters, as `Text`: a NUL or another control character is a 400 naming
    the parameter (PostgreSQL refuses NUL in text: it was a 500)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    q: Text = Field(default="", max_length=200)  # a case-insensitive match on the name
    # Only titles licensed there now; upper case once validated.
    country: Annotated[Text, Field(max_length=2), AfterValidator(_country_or_none)] = ""
    genre: Text = Field(default="", max_length=100)


class PublicTitle(BaseModel):
    """A title as members see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    year: int | None
    genres: list[str]
    maturity: str
    description: str
    duration_s: float
    popularity: float
    available_in: list[str]  # countries whose licensing window is open today
    artwork_url: str | None
    availability: Availability


class TitleList(BaseModel):
    model_config = ConfigDict(frozen=True)

    titles: list[PublicTitle]


# ---- cache control's GET /v1/availability, as the catalog reads it ------------------------------


class _Incoming(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TitlePlayability(_Incoming):
    title_id: str
    playable: bool
    since: float


class AvailabilitySnapshot(_Incoming):
    titles: list[TitlePlayability]


# ---- domain --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenseWindow:
    title_id: str
    country: str
    starts: date  # inclusive
    ends: date  # inclusive

    def active_on(self, day: date) -> bool:
        return self.starts <= day <= self.ends


@dataclass(frozen=True)
class TitleRecord:
    """A title as the catalog stores it."""

    id: str
    name: str
    year: int | None
    genres: tuple[str, ...]
    maturity: str
    description: str
    duration_s: float
    popularity: float
    published_at: float
    licenses: tuple[LicenseWindow, ...]
    artwork: AssetFile | None  # the frame ingest grabbed, None for titles without one
    manifest_json: str | None = None  # the stored asset manifest, when asked for


@dataclass(frozen=True)
class TitleAvailability:
    availability: Availability
    since: float | None  # when cache control says it became so; None: never heard of it
