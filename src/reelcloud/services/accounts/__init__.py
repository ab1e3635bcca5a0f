"""Accounts: members, plans, profiles, devices and sessions (PostgreSQL of its own)."""
