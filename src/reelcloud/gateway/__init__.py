"""The API gateway (Zuul-like): every request from a browser or client enters here.

Inbound filters (request id, client address, authentication, routing, rate limits, load
shedding, fault injection) → one endpoint (proxy to an origin service, static web files,
health) → outbound filters (CORS, security headers, request id, metrics, access log). The
public listener is a small HTTP/1.1 server on asyncio + httptools, and origins are reached
through pooled keep-alive connections: the hot path avoids a general web framework.
"""
