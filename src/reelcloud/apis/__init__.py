"""Application APIs: the edge services behind the gateway that orchestrate microservices."""
