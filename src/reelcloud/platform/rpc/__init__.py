"""Service-to-service calls over gRPC (asyncio API).

- `server.py`: a gRPC server beside each service's HTTP app: health and reflection services,
  an interceptor that reads the request id and the deadline from the call, maps platform
  errors to status codes, and graceful stop;
- `client.py`: channels per instance chosen through discovery; every call carries the request
  id and fault-injection header, and never gets more time than the caller has left;
- `dependency.py`: a called service as a resilience command (timeout, breaker, bulkhead),
  for the application APIs;
- `status.py`: gRPC status codes ↔ the platform's error tree, at the boundary;
- `codegen.py`: `.proto` files → Python stubs (run by the build, and by tests for theirs).
"""

from reelcloud.platform.rpc.client import RpcClient, call_with_deadline, remaining_s
from reelcloud.platform.rpc.server import RpcServer

__all__ = ["RpcClient", "RpcServer", "call_with_deadline", "remaining_s"]
