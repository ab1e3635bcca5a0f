"""Accounts: members, their plans, profiles, devices and sessions, in a PostgreSQL database of
its own.

Members reach it through the gateway (`/api/accounts/login`, `logout`, `me`); the sign-up API
creates them over gRPC (CreateMember, ActivateMember, DeletePendingMember), and the Play API
calls it on every play (GetMember, GetProfile, GetDevice). Plan and status follow billing's
events (`membership.py`). Passwords are
hashed with argon2id on a bounded pool of threads (`hashing.py`), so sign-ins never hold up
those calls. `service.py` holds the rules, `store.py` the SQL, `api.py` only translates.
"""
