"""Playback: the rules of who may play what, where and how, and the plan's stream slots (in a
PostgreSQL database of its own).

The Play API calls it over gRPC (Authorize, Heartbeat, Stop) with the facts it gathered from
accounts and the catalog; `rules.py` decides, `store.py` keeps the slots, `api.py` translates.
"""
