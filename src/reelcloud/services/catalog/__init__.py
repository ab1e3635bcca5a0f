"""Catalog: titles, licensing windows by country, maturity, asset manifests, and whether each
title is available to play yet (learned from cache control).

Titles come from the origin's asset manifests (`title.encoded` events, and a sweep of the
origin). The Play API calls it over gRPC (GetTitle, GetLicense, ListTitles); members browse it
through the gateway (`GET /api/catalog/titles[/{id}[/artwork]]`).
"""
