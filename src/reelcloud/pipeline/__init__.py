"""Keystone's router: events from the fronting bus (JetStream) to sinks, by declarative routes.

`routes.yaml` (the data directory's `pipeline/routes.yaml`, reloaded on change) says which event
types go where; each route reads through its own durable consumer, so a slow sink holds back
its own route and no other. The sinks are the data lake (Iceberg on the S3 origin, idempotent
by event id: replays and redeliveries change nothing) and the consumer Kafka topics the stream
jobs read (at least once: the jobs drop copies by id). Events that cannot be decoded or
validated go to the dead-letter stream with why.
"""
