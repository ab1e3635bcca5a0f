"""Cache control: every OCA's last report (health, prefixes, what it holds), what every OCA
should hold (fill manifests: popularity placement, fill sources), and which titles are playable
(some fresh, healthy OCA holds every file a play needs).

OCAs post reports and fetch their fill manifests; steering polls the steering state; the
catalog polls availability; `reelcloud ocas` / `reelcloud fill --now` read the summary.
"""
