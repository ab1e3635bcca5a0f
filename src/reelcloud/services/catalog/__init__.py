"""Catalog: titles, licensing windows by country, maturity and asset manifests."""
