"""Accounts: members, their plans, profiles, devices and sessions, in a PostgreSQL database of
its own.

Members reach it through the gateway (`/api/accounts/signup`, `login`, `logout`, `me`); the
Play API calls it over gRPC on every play (GetMember, GetProfile, GetDevice). Passwords are
hashed with argon2id on a bounded pool of threads (`hashing.py`), so sign-ins never hold up
those calls. `service.py` holds the rules, `store.py` the SQL, `api.py` only translates.
"""
