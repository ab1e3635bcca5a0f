"""The gateway's HTTP/1.1 machinery: a server protocol and an origin client pool."""
