"""Where cache control's data comes from: the published titles' manifests on the origin, read
with the platform's `PublishedTitles` (the catalog reads them the same way). Its other state
(reports, plans, availability) lives in memory and is rebuilt from the OCAs' reports after a
restart (a restart asks every OCA for its full content list)."""

from __future__ import annotations

from reelcloud.platform.origin import PublishedTitles

__all__ = ["PublishedTitles"]
