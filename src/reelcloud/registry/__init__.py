"""The registry (Eureka): owns the table of service instances and their leases.

Speaks the Eureka REST API under `/eureka/` and `/eureka/v2/`, JSON or XML; runs as two or more
peers that replicate every change to each other. `service.py` holds the rules (leases,
eviction, self-preservation, delta), `auth.py` who may call what (basic auth, one credential
per service), `api.py` only translates HTTP.
"""
