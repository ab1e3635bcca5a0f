"""Steering's data: the bodies of its HTTP routes, cache control's state as steering reads it,
and the domain answer of a steering decision. Errors are `platform.errors` bodies."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# ---- GET /steering/v1/manifest -----------------------------------------------------------------


class SteeringManifest(BaseModel):
    """A content-steering manifest: pathways (OCA ids), best first, under the key of its format
    (HLS `PATHWAY-PRIORITY`, DASH `SERVICE-LOCATION-PRIORITY`); rendered without the other."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: int = Field(default=1, alias="VERSION")
    ttl_s: int = Field(alias="TTL")
    reload_uri: str = Field(alias="RELOAD-URI")
    pathway_priority: list[str] | None = Field(default=None, alias="PATHWAY-PRIORITY")
    service_location_priority: list[str] | None = Field(
        default=None, alias="SERVICE-LOCATION-PRIORITY"
    )

    @property
    def pathways(self) -> list[str]:
        return self.pathway_priority or self.service_location_priority or []


# ---- GET /v1/table -----------------------------------------------------------------------------


class TableOca(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    site: str
    usable: bool
    files: int
    titles: int
    load: int


class TableReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    content_version: str | None
    ocas: list[TableOca]


# ---- a decision --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    oca_id: str
    site: str
    site_kind: str
    base_url: str  # http://<address>:<port>/v/<token>/<title_id>/ : file names are appended
    rank: int  # 1 = first choice
    reason: str  # embedded | ixp | fallback-ixp | fallback-origin | fallback-other


@dataclass(frozen=True)
class SteerAnswer:
    candidates: list[Candidate]  # empty: no usable OCA holds the files yet
    expires_at: int  # unix seconds; the URLs stop working then
    steering_path: str  # the content-steering manifest of these candidates (on the gateway)
