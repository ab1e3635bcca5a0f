"""License: play tokens and the AES-128 content keys they open."""
