"""Steering: ranked, signed OCA URLs for a client, and the content-steering manifest."""
