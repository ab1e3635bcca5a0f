"""Local orchestration: the topology becomes OS processes, layer by layer, supervised.

`reelcloud up` starts the embedded engines (PostgreSQL, NATS JetStream), then the registry
peers, then every service instance, waiting on readiness before each next layer; it restarts
crashed instances with backoff and stops everything on Ctrl-C. A control socket in the data
directory lets `reelcloud status|scale|down` talk to it.
"""
