"""What an incoming call tells the calls it makes: its deadline and its fault-injection header.

Set by the server interceptor for the duration of a handler; read by the client helper, so a
callee never gets more time than its caller has left. (The request id lives in
`platform.logging.request_id_var`, shared with HTTP.)
"""

from __future__ import annotations

from contextvars import ContextVar

REQUEST_ID_KEY = "x-request-id"
FAULT_KEY = "x-reelcloud-fault"
# A refused call's clear code ("unknown_plan", "trial_already_used") in its trailing metadata,
# beside the status code, so the caller raises the same error the callee did.
ERROR_CODE_KEY = "reelcloud-error-code"

# Monotonic time (time.monotonic) by which the incoming call must be answered.
inbound_deadline: ContextVar[float | None] = ContextVar("inbound_deadline", default=None)
fault_header: ContextVar[str | None] = ContextVar("fault_header", default=None)
