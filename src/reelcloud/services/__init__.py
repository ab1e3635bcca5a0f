"""Microservices: one sub-package per service, each owning its API and data."""
