"""The stream jobs (Netflix's SPaaS, here on Quix Streams): they read the consumer Kafka
topics the router fills and keep windowed aggregates that close the platform's loops.

- trending: plays per title per country over a sliding hour (5 min hops), the top 20;
- popularity: plays per title and rendition per day, which cache control plans fill from;
- sps: stream starts per minute, successes and failures by reason (the availability signal);
- qoe: start-up, rebuffering, bitrate and errors per OCA and per minute.

Each job is its own Quix application and consumer group: more instances of the service
share a job's partitions. Results are upserted into the service's database as each window
changes, and served from there.
"""
