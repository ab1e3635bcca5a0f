"""License: play tokens and the AES-128 content keys they open.

The Play API asks for a play token over gRPC (IssueToken) for every play it allows; players
then fetch the title's key over HTTP, through the gateway, with that token. It has no database:
keys are read from the origin's key bucket (`store.py`), tokens are signed (`tokens.py`).
"""
