"""Generated gRPC stubs, one pair of modules per service proto (see proto/README.md)."""
