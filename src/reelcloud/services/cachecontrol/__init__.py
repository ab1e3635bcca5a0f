"""Cache control: what every OCA reports, and what every OCA should hold (fill manifests)."""
