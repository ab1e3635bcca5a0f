"""Payments: a card processor "outside the platform", as billing would call Stripe or Adyen.

Its own process and its own small store (a SQLite file, no share of the platform's
PostgreSQL); billing reaches it over HTTP at a URL from its options, not through the registry,
with the platform's admin credential standing in for a processor's API key. Card numbers pick
what a charge does (`cards.py`: approve, decline, a second step, a timeout, a 500), every
charge and refund is made once per idempotency key, and a key can be looked up, so a caller
that never heard an answer finds out what happened. `service.py` holds the rules, `store.py`
the SQL, `api.py` only translates HTTP.
"""
