"""The shared runtime every reelcloud process uses.

Settings, the service app factory, logging, metrics, errors, discovery. This package never
imports a service package; services import it.
"""
